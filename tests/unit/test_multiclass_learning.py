"""Multiclass learning pieces (issue 15): targets resolved into classes (rare classes refused,
merged or too few), the multinomial baseline and temperature scaling against scikit-learn's
definitions, the metrics and the macro-AUC intervals, LightGBM's per-class explanations, and
the model files' round trip."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from tabflow.calibration import Calibrator, fit_temperature
from tabflow.contract import ContractError, parse_contract
from tabflow.evaluation.intervals import macro_auc_difference, macro_auc_interval
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.features import Feature, FeatureSpec
from tabflow.models.base import TrainingRows, candidate, load_model
from tabflow.solvers import softmax_regression
from tabflow.targets import class_codes, resolve_target

BASE = """dataset: plans
target: {{column: plan, kind: multiclass{extra}}}
columns:
  plan: {{type: {type}}}
  x: {{type: float}}
"""


def contract(extra: str = "", type_: str = "category"):
    return parse_contract(BASE.format(extra=extra, type=type_))


def test_classes_are_sorted_typed_and_coded_missing_as_minus_one():
    values = ["gold", "silver", "bronze", "NA", "", "gold"] * 10
    r = resolve_target(contract(", min_class_rows: 10"), values)
    assert r.kind == "multiclass" and not r.errors
    assert list(r.classes) == ["bronze", "gold", "silver"]
    assert r.classes == {"bronze": 10, "gold": 20, "silver": 10} and r.missing == 20
    assert r.y.tolist()[:6] == [1, 2, 0, -1, -1, 1]
    assert class_codes(["silver", "gold", "platinum", None], list(r.classes)).tolist() == [
        2, 1, -1, -1,
    ]  # fmt: skip


def test_a_rare_class_refuses_training_naming_it_or_merges_into_other():
    values = ["a"] * 30 + ["b"] * 30 + ["c"] * 30 + ["d"] * 12 + ["e"] * 9
    refused = resolve_target(contract(), values)
    assert refused.errors and "'e' 9" in refused.errors[0] and "'d' 12" in refused.errors[0]
    merged = resolve_target(contract(", rare_classes: other"), values)
    assert not merged.errors and merged.merged == ("d", "e")
    assert merged.classes == {"a": 30, "b": 30, "c": 30, "other": 21}
    assert class_codes(["d", "e", "a"], list(merged.classes), merged.merged).tolist() == [3, 3, 0]
    too_few = resolve_target(contract(", rare_classes: other"), values[:-9] + ["e"] * 2)
    assert too_few.errors and "14 rows together" in too_few.errors[0]


def test_fewer_than_three_or_more_than_fifty_classes_are_refused():
    two = resolve_target(contract(", min_class_rows: 2"), ["a", "b"] * 10)
    assert two.errors and "needs at least 3" in two.errors[0]
    many = resolve_target(contract(", min_class_rows: 2"), [f"c{i}" for i in range(60)] * 2)
    assert any("60 classes" in e for e in many.errors)


def test_declared_classes_fix_the_order_and_other_values_are_not_valid():
    r = resolve_target(
        contract(", classes: [low, mid, high], min_class_rows: 2"),
        ["high", "low", "mid", "huge"] * 5,
    )
    assert list(r.classes) == ["low", "mid", "high"] and r.y.tolist()[:4] == [2, 0, 1, -1]
    assert r.invalid == {"huge: not one of the declared classes": 5}
    merged = resolve_target(
        contract(", classes: [low, mid, high, top, peak], min_class_rows: 5, rare_classes: other"),
        ["high"] * 9 + ["low"] * 9 + ["mid"] * 9 + ["top"] * 3 + ["peak"] * 3,
    )
    assert not merged.errors, merged.errors
    assert merged.classes == {"low": 9, "mid": 9, "high": 9, "other": 6}
    assert merged.y.tolist()[-6:] == [3] * 6


def test_a_multiclass_contract_names_its_mistakes():
    with pytest.raises(ContractError, match="category, string or int"):
        contract(type_="float")
    with pytest.raises(ContractError, match="no positive_label"):
        contract(", positive_label: a")
    with pytest.raises(ContractError, match="at least 3 distinct"):
        contract(", classes: [a, b]")


def _problem(n: int = 3000, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    w = rng.normal(size=(k, 5))
    y = (x @ w.T + rng.gumbel(size=(n, k))).argmax(axis=1)
    return x, y


def test_the_multinomial_baseline_matches_scikit_learn():
    x, y = _problem()
    coef, intercepts = softmax_regression(x, y, 4, c=1.0)
    reference = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(x, y)
    z = x @ coef.T + intercepts
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert np.abs(p - reference.predict_proba(x)).max() < 1e-3


def test_temperature_scaling_lowers_the_log_loss_and_keeps_the_predicted_class():
    x, y = _problem(seed=1)
    logits = x @ np.random.default_rng(2).normal(size=(5, 4)) * 4  # overconfident scores
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    calibrator = fit_temperature(p, y)
    assert calibrator.method == "temperature" and calibrator.a > 1.0
    q = calibrator.apply(p)
    assert log_loss(y, q) < log_loss(y, p)
    assert (q.argmax(axis=1) == p.argmax(axis=1)).all()
    assert Calibrator.from_json(calibrator.to_json()) == calibrator


def test_metrics_and_intervals_match_their_definitions():
    x, y = _problem(seed=3)
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4), len(y))
    p[np.arange(len(y)), y] += 0.5
    p /= p.sum(axis=1, keepdims=True)
    m = multiclass_metrics(y, p, ["a", "b", "c", "d"])
    assert m["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr"), abs=1e-6)
    assert m["weighted_auc"] == pytest.approx(
        roc_auc_score(y, p, multi_class="ovr", average="weighted"), abs=1e-6
    )
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-6)
    counts = np.array(m["confusion_matrix"]["counts"])
    assert counts.sum() == len(y) and counts.trace() / len(y) == pytest.approx(m["accuracy"])
    # The analytic interval agrees with a paired bootstrap of the macro AUC.
    interval = macro_auc_interval(y, p)
    boot = []
    for _ in range(300):
        i = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[i], p[i], multi_class="ovr"))
    assert interval.high - interval.low == pytest.approx(
        np.percentile(boot, 97.5) - np.percentile(boot, 2.5), rel=0.2
    )
    same = macro_auc_difference(y, p, p)
    assert same.point == 0.0 and same.low == same.high == 0.0


def _spec(k: int) -> FeatureSpec:
    features = tuple(Feature(f"x{i}", "numeric") for i in range(4)) + (
        Feature("plan", "categorical", ("basic", "plus")),
    )
    classes = tuple(f"c{i}" for i in range(k))
    return FeatureSpec(features, "y", "", "", task="multiclass", classes=classes)


@pytest.mark.parametrize("kind", ["lightgbm", "linear"])
def test_each_candidate_learns_explains_and_reloads_a_multiclass_model(kind):
    x, y = _problem(n=1500, k=3, seed=5)
    x = np.column_stack([x[:, :4], (x[:, 4] > 0).astype(float)])
    spec = _spec(3)
    rows = TrainingRows(x, y, spec, np.arange(1200), np.arange(1200, 1500), 1, "auto", None)
    fitted = candidate(kind).fit(rows)
    p = fitted.model.predict(x[1200:])
    assert p.shape == (300, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert multiclass_metrics(y[1200:], p, spec.classes)["auc"] > 0.75
    again = load_model(kind, candidate(kind).save(fitted))
    np.testing.assert_array_equal(again.predict(x[1200:]), p)
    contributions = again.contributions(x[1200:])
    assert contributions.shape == (300, 5)
    if kind == "lightgbm":  # TreeSHAP is additive: the predicted class's raw score
        import lightgbm as lgb

        booster = lgb.Booster(model_str=fitted.text)
        raw = booster.predict(x[1200:], raw_score=True)
        full = booster.predict(x[1200:], pred_contrib=True).reshape(300, 3, -1)
        chosen = p.argmax(axis=1)
        expected = full[np.arange(300), chosen, -1]
        np.testing.assert_allclose(
            contributions.sum(axis=1) + expected, raw[np.arange(300), chosen], atol=1e-9
        )


def _scores(y: np.ndarray, strength: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(len(y), 3))
    z[np.arange(len(y)), y] += strength
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def test_multiclass_gates_compare_on_the_same_rows_and_fall_back_to_the_baseline():
    from tabflow.contract import Gates
    from tabflow.gates import HeldOut
    from tabflow.multiclass_gates import decide_multiclass

    y = np.random.default_rng(0).integers(0, 3, 900)
    weak, good, better = _scores(y, 0.3, 1), _scores(y, 1.5, 2), _scores(y, 3.0, 3)
    metrics = {n: multiclass_metrics(y, s, ["a", "b", "c"]) for n, s in
               {"lightgbm": weak, "linear": good}.items()}  # fmt: skip
    # LightGBM is under the floor and below the baseline: the baseline passes and wins.
    decision = decide_multiclass(
        "lightgbm",
        metrics,
        Gates(min_auc=0.7),
        held_out=HeldOut(y, {"lightgbm": weak, "linear": good}),
    )
    assert decision.promote and decision.winner == "linear"
    assert {"auc_floor", "beats_baseline"} <= set(decision.passed_over["failed"])
    # A champion far better on the same rows keeps its place (the whole interval is below).
    champion = {
        "version": 3,
        "comparable": True,
        "auc": multiclass_metrics(y, better, "abc")["auc"],
    }
    kept = decide_multiclass(
        "linear",
        {"linear": metrics["linear"]},
        Gates(min_auc=0.7),
        champion=champion,
        held_out=HeldOut(y, {"linear": good}, better),
    )
    assert not kept.promote and kept.failed == ["not_worse_than_champion"]
    gate = next(g for g in kept.gates if g.name == "not_worse_than_champion")
    assert gate.interval is not None and gate.interval.high < -0.01
    # The same model as the champion passes, however few the rows.
    same = decide_multiclass(
        "linear",
        {"linear": metrics["linear"]},
        Gates(min_auc=0.7),
        champion=champion | {"auc": metrics["linear"]["auc"]},
        held_out=HeldOut(y, {"linear": good}, good),
    )
    assert same.promote, same.to_dict()


def test_contract_check_refuses_a_sample_whose_rare_class_cannot_be_learned(tmp_path, capsys):
    from tabflow.cli import contract_main

    (tmp_path / "plans.yaml").write_text(BASE.format(extra="", type="category"))
    rows = ["gold"] * 40 + ["silver"] * 40 + ["bronze"] * 40 + ["platinum"] * 3
    (tmp_path / "plans.csv").write_text(
        "plan,x\n" + "".join(f"{p},{i}\n" for i, p in enumerate(rows))
    )
    code = contract_main(
        ["check", str(tmp_path / "plans.yaml"), "--sample", str(tmp_path / "plans.csv")]
    )
    err = capsys.readouterr()
    assert code == 1
    assert "'platinum' 3" in err.err + err.out and "rare_classes: other" in err.err + err.out
