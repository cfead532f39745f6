"""Delayed labels resolve as training resolves its target, and the decay state has the same
hysteresis as drift (one steady state for a decay near its threshold)."""

import json
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import numpy as np
import pyarrow as pa
import pytest

from tabflow.adapters.memory import MemoryStore
from tabflow.contract import Monitoring, parse_contract
from tabflow.monitoring.alerts import load_state, update_decay_state
from tabflow.monitoring.decay import decay_check
from tabflow.ports import ModelVersion
from tabflow.targets import label_vector, resolve_labels
from tests.conftest import ROOT

TELCO = parse_contract((ROOT / "datasets" / "telco_churn.yaml").read_text())


def _contract(column: str, positive: str):
    text = (
        f"dataset: d\ntarget: {{column: y, positive_label: '{positive}'}}\nid_column: id\n"
        f"columns:\n  id: {{type: string, feature: false}}\n  y: {column}\n  x: {{type: float}}\n"
    )
    return parse_contract(text)


def test_label_spellings_are_the_classes_training_knows():
    values = ["Yes", "yes", "Y", "TRUE", " Yes ", "true", "No", "no", "N", "FALSE", " no "]
    r = resolve_labels(TELCO, values, "No")
    assert r.y.tolist() == [1] * 6 + [0] * 5
    assert r.classes == {"Yes": 6, "No": 5} and not r.invalid and r.missing == 0
    # training's own reading of the same values once ingest typed them agrees
    assert label_vector(["Yes"] * 6 + ["No"] * 5, "Yes").tolist() == r.y.tolist()


def test_values_that_are_neither_class_are_counted_never_negative():
    r = resolve_labels(TELCO, ["maybe", "2", "", "NA", "Yes", "No"], "No")
    assert r.y.tolist() == [-1, -1, -1, -1, 1, 0]
    assert r.missing == 2 and sum(r.invalid.values()) == 2
    assert any(k.startswith("maybe:") for k in r.invalid)
    # a free-text target: anything but the two classes is unresolved (not "not Yes")
    text = _contract("{type: string}", "churned")
    r = resolve_labels(text, ["churned", "stayed", "unknown", " churned "], "stayed")
    assert r.y.tolist() == [1, 0, -1, 1]
    assert list(r.invalid) == ["unknown: neither 'churned' nor 'stayed'"]
    # one batch may hold a single class: no refusal
    assert resolve_labels(TELCO, ["yes", "Y"], "No").y.tolist() == [1, 1]


def test_boolean_and_numeric_targets():
    flag = _contract("{type: bool}", "true")
    r = resolve_labels(flag, ["yes", "No", "1", "0", "T", "perhaps"], "false")
    assert r.y.tolist() == [1, 0, 1, 0, 1, -1] and sum(r.invalid.values()) == 1
    amount = parse_contract(
        "dataset: d\ntarget: {column: y, kind: regression}\nid_column: id\n"
        "columns:\n  id: {type: string, feature: false}\n  y: {type: float}\n  x: {type: float}\n"
    )
    r = resolve_labels(amount, ["1.5", " 2 ", "abc", ""], None)
    assert r.y[:2].tolist() == [1.5, 2.0] and np.isnan(r.y[2:]).all()
    assert r.missing == 1 and sum(r.invalid.values()) == 1


NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _run(windows: list[str | None], cfg: Monitoring) -> tuple[list[bool], list[int]]:
    """Feed decay windows through the state; returns the state after each and the checks
    at which it entered (an email each)."""
    state: dict = {}
    active, entries = [], []
    for day, window in enumerate(windows):
        decay = {"status": "insufficient_labels"} if window is None else {"window": window}
        new = update_decay_state(decay, state, cfg, NOW + timedelta(days=day))
        if new["active"] and not state.get("active"):
            entries.append(day)
        assert decay["active"] == new["active"]
        if window is not None:
            assert decay["status"] == ("decay" if new["active"] else "ok")
        state = new
        active.append(new["active"])
    return active, entries


def test_a_decay_near_its_threshold_is_one_state_one_entry():
    cfg = Monitoring(persistence=1, clear_after=2)
    hover = ["decay", "unclear", "decay", "unclear", "decay", "unclear", "decay"]
    active, entries = _run(hover, cfg)
    assert all(active) and entries == [0]
    # clear only after clear_after windows in a row clearly fine; an unclear one resets
    active, entries = _run(["decay", "ok", "unclear", "ok", "ok", "unclear", "decay"], cfg)
    assert active == [True, True, True, True, False, False, True] and entries == [0, 6]
    # too few labels: the state and its counts hold
    active, _ = _run(["decay", "ok", None, "ok"], cfg)
    assert active == [True, True, True, False]


@pytest.mark.parametrize("persistence", [1, 2, 3])
def test_persistence_delays_entry(persistence):
    cfg = Monitoring(persistence=persistence, clear_after=1)
    active, entries = _run(["decay", "unclear", "decay", "decay", "decay", "ok"], cfg)
    assert entries == [[0], [3], [4]][persistence - 1]
    assert active[-1] is False


def test_a_new_champion_starts_without_decay_state():
    store = MemoryStore()
    uri = "s3://lake/monitoring/d/state.json"
    store.put(uri, json.dumps({"model_version": 1, "decay": {"active": True}}).encode(), "x")
    assert load_state(store, uri, 1)["decay"] == {"active": True}
    assert load_state(store, uri, 2)["decay"] == {}


def _champion(metrics: dict) -> ModelVersion:
    return ModelVersion(
        dataset="d",
        version=1,
        kind="linear",
        model_uri="s3://m/d/model.json",
        sha256="0" * 64,
        spec_uri="s3://m/d/spec.json",
        reference_uri="s3://m/d/reference.json",
        metadata_uri="s3://m/d/metadata.json",
        threshold=0.5,
        metrics=metrics,
        run_id="r",
        created_at=NOW - timedelta(days=10),
    )


def _window(scores: np.ndarray) -> pa.Table:
    ids = [f"i{k}" for k in range(len(scores))]
    at = [(NOW - timedelta(days=2)).isoformat()] * len(scores)
    return pa.table({"_id": ids, "_at": at, "_score": scores})


@pytest.mark.parametrize(
    ("auc", "rows", "window"),
    [(0.60, 2000, "decay"), (0.84, 2000, "ok"), (0.79, 300, "unclear")],
)
def test_each_check_says_decay_only_when_its_bounds_are_clear_of_the_line(auc, rows, window):
    """Test AUC 0.85, tolerance 0.05: the line is 0.80. Decay needs the AUC's upper bound
    below it; ok needs the lower bound at or above it; in between the check cannot tell."""
    rng = np.random.default_rng(int(auc * 100) + rows)
    y = rng.random(rows) < 0.5
    shift = np.sqrt(2) * NormalDist().inv_cdf(auc)
    scores = 1 / (1 + np.exp(-(rng.normal(size=rows) + shift * y)))
    labels = {f"i{k}": bool(v) for k, v in enumerate(y)}
    out = decay_check(_window(scores), labels, _champion({"auc": 0.85}), TELCO, NOW)
    assert out["auc_low"] <= out["auc"] <= out["auc_high"]
    assert out["threshold"] == pytest.approx(0.80)
    assert out["window"] == window, out
    assert out["status"] == ("decay" if window == "decay" else "ok")


def test_regression_decay_uses_rmse_bounds():
    amount = parse_contract(
        "dataset: d\ntarget: {column: y, kind: regression}\nid_column: id\n"
        "columns:\n  id: {type: string, feature: false}\n  y: {type: float}\n  x: {type: float}\n"
    )
    rng = np.random.default_rng(1)
    truth = rng.normal(size=3000)
    labels = {f"i{k}": float(v) for k, v in enumerate(truth)}
    for noise, window in ((1.0, "ok"), (1.5, "decay"), (1.06, "unclear")):
        predicted = truth + rng.normal(0, noise, 3000)
        out = decay_check(_window(predicted), labels, _champion({"rmse": 1.0}), amount, NOW)
        assert out["rmse_low"] <= out["rmse"] <= out["rmse_high"]
        assert out["threshold"] == pytest.approx(1.05)
        assert out["window"] == window, (noise, out)


def test_the_decay_email_names_the_labels_it_left_out():
    from tabflow.emails import decay_alert

    decay = {
        "labelled": 380,
        "auc": 0.61,
        "auc_high": 0.66,
        "test_auc": 0.85,
        "tolerance": 0.05,
        "precision": 0.5,
        "recall": 0.4,
        "brier": 0.2,
        "ece": 0.05,
        "labels": {"unresolved": 15, "unresolved_values": "'maybe: not one of ...' 10"},
    }
    email = decay_alert("d", 3, decay, "s3://lake/monitoring/d/x-check.json")
    assert "labels not understood (left out)" in email.text and "maybe" in email.text
    assert "AUC upper bound" in email.text and "0.660" in email.text
    decay["labels"] = {"unresolved": 0}
    assert "not understood" not in decay_alert("d", 3, decay, "s3://x").text
