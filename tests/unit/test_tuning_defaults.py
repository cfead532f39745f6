"""Tuning that never loses to the defaults: the defaults are always a trial, the rounds come
from the mean cross-validated curve (not one fold's early stop), small data repeats its folds,
and a tuned trial replaces the defaults only when it beats them beyond the noise of the same
folds."""

import numpy as np
import pytest

from tabflow.features import Feature, FeatureSpec
from tabflow.tuning import (
    DEFAULT_PARAMS,
    SMALL_DATA_ROWS,
    cross_validate,
    folds,
    patience,
    select_trial,
    trial_params,
)


@pytest.mark.parametrize("n", [1, 2, 6, 40])
@pytest.mark.parametrize(
    ("task", "weights"), [("binary", "auto"), ("binary", "balanced"), ("regression", "none")]
)
def test_the_defaults_are_always_the_first_trial(n, task, weights):
    trials = trial_params(n, seed=3, task=task, class_weight=weights)
    assert len(trials) == n
    first = trials[0]
    assert {k: first[k] for k in DEFAULT_PARAMS} == DEFAULT_PARAMS
    if task == "binary":
        assert first["is_unbalance"] == (weights == "balanced")
    assert all(t != first for t in trials[1:])


def test_small_data_repeats_its_stratified_folds_and_large_data_does_not():
    rng = np.random.default_rng(0)
    y = (rng.random(SMALL_DATA_ROWS - 1) < 0.06).astype(np.int8)
    small = folds(y, None, 3, seed=1)
    assert len(small) == 6
    for r in range(2):  # each repeat is a partition of the rows, stratified
        repeat = small[3 * r : 3 * r + 3]
        valid = np.sort(np.concatenate([v for _, v in repeat]))
        assert np.array_equal(valid, np.arange(len(y)))
        for fit, v in repeat:
            assert not np.intersect1d(fit, v).size
            assert abs(y[v].mean() - y.mean()) < 0.005
    assert not np.array_equal(small[0][1], small[3][1])  # another shuffle
    assert len(folds(np.r_[y, y], None, 3, seed=1)) == 3
    times = np.arange(len(y)).astype("datetime64[s]")
    assert len(folds(y, times, 3, seed=1)) == 3  # windows in time are never repeated


def spec_for(columns: int) -> FeatureSpec:
    return FeatureSpec(
        tuple(Feature(f"x{i}", "numeric") for i in range(columns)), "y", "1", "0", task="binary"
    )


def test_the_rounds_are_the_argmax_of_the_mean_curve_over_the_folds():
    import lightgbm as lgb

    from tabflow.models.lightgbm import default_params, lightgbm_dataset

    rng = np.random.default_rng(5)
    x = rng.normal(size=(1200, 6))
    y = (rng.random(1200) < 1 / (1 + np.exp(-(x[:, 0] + np.sin(2 * x[:, 1]) - 2)))).astype(float)
    spec = spec_for(6)
    fold_list = folds(y, None, 3, seed=2)
    params = DEFAULT_PARAMS | {"learning_rate": 0.1, "is_unbalance": True}
    out = cross_validate(x, y, spec, params, fold_list, seed=1, seconds=60)
    assert out["stopped"] == "plateau" and out["folds_done"] == 6 and out["metric"] == "auc"

    # The same folds boosted one by one, each validation curve recorded past the plateau.
    full = lightgbm_dataset(spec, x, y).construct()
    common = default_params("binary", 1) | {"metric": "auc"}
    curves, own_best = [], []
    for fit, valid in fold_list:
        record: dict = {}
        lgb.train(
            common | params,
            full.subset(sorted(fit)),
            num_boost_round=out["rounds"] + patience(0.1),
            valid_sets=[full.subset(sorted(valid))],
            valid_names=["v"],
            callbacks=[lgb.record_evaluation(record)],
        )
        curves.append(record["v"]["auc"])
        own_best.append(int(np.argmax(record["v"]["auc"])) + 1)
    mean_curve = np.mean(curves, axis=0)
    assert out["rounds"] == int(np.argmax(mean_curve)) + 1
    assert out["fold_scores"] == pytest.approx([c[out["rounds"] - 1] for c in curves], abs=1e-6)
    assert len(set(own_best)) > 1  # the folds disagree: no single fold's stop is "the" answer


def trial(i, scores):
    return {"trial": i, "params": {"i": i}, "score": float(np.mean(scores)), "fold_scores": scores}


def test_a_tuned_trial_replaces_the_defaults_only_beyond_the_noise_of_the_same_folds():
    defaults = trial(0, [0.80, 0.78, 0.82, 0.79, 0.81, 0.80])
    lucky = trial(1, [0.83, 0.76, 0.84, 0.78, 0.82, 0.80])  # higher mean, all over the place
    better = trial(2, [0.82, 0.80, 0.84, 0.81, 0.83, 0.82])  # +0.02 on every fold
    chosen = select_trial([lucky, defaults])
    assert chosen["trial"] == 0 and "within one standard error" in chosen["selection"]
    chosen = select_trial([defaults, lucky, better])
    assert chosen["trial"] == 2 and "beat the defaults" in chosen["selection"]
    assert select_trial([defaults])["trial"] == 0
    assert select_trial([]) is None
    # a tie keeps the defaults
    assert select_trial([trial(1, defaults["fold_scores"]), defaults])["trial"] == 0


def wide_imbalanced(n: int, seed: int = 7, features: int = 85) -> tuple[np.ndarray, np.ndarray]:
    """Issue 11's file: about 6% positives, 85 columns of which six carry signal (with a
    threshold, an interaction and a non-monotone effect), 3% missing values."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    x[:, 80:] = rng.integers(0, 6, size=(n, features - 80))
    z = (
        0.9 * x[:, 0]
        + 0.7 * np.tanh(2 * x[:, 1])
        + 0.6 * x[:, 2] * (x[:, 3] > 0)
        - 0.5 * np.abs(x[:, 4])
        + 0.4 * (x[:, 80] >= 4)
        - 3.05  # about 6% positives
    )
    y = rng.random(n) < 1 / (1 + np.exp(-z))
    return np.where(rng.random(x.shape) < 0.03, np.nan, x), y.astype(np.int8)


WIDE_CONTRACT = """dataset: wide
target: {column: target, positive_label: "yes"}
id_column: id
columns:
  id: {type: string, nullable: false, feature: false}
  target: {type: category, categories: ["yes", "no"], nullable: false}
%s
gates: {min_auc: 0.5, max_ece: null}
training: {seed: 42, calibration: platt, tuning: {trials: %d}}
"""


def test_on_a_small_wide_imbalanced_file_tuning_does_not_lose_to_untuned_lightgbm():
    """Issue 11's case (5,800 rows, 6% positives, 85 features): through Prepare, the trials
    and the LightGBM candidate's Train task, the model's held-out AUC is not below untuned
    LightGBM (its own defaults, 100 rounds, fitted on the same training rows) on the same
    test rows, nor on 20,000 fresh rows of the same source. On this file the old tuning
    chose the sixth trial with 25 rounds: test AUC 0.700 against 0.757 untuned. To stay
    short the test runs two of the six trials, the defaults and that one; the full budget
    on several such files is `make bench ONLY=tuning_vs_defaults`."""
    import json

    import lightgbm as lgb
    import pandas as pd

    from tabflow.adapters.memory import MemoryStore, MemoryTables
    from tabflow.evaluation.metrics import roc_auc
    from tabflow.models.base import load_stored
    from tabflow.workflow.prepare import prepare
    from tabflow.workflow.train import train_candidate
    from tabflow.workflow.trial import trial as run_trial

    x, y = wide_imbalanced(5800, seed=8)
    assert 0.05 < y.mean() < 0.07
    names = [f"f{i:02d}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=names)
    frame.insert(0, "id", [f"r{i}" for i in range(len(y))])
    frame["target"] = np.where(y == 1, "yes", "no")
    store = MemoryStore()
    tables = MemoryTables(store)
    contract = WIDE_CONTRACT % ("\n".join(f"  {c}: {{type: float}}" for c in names), 6)
    store.put("s3://raw/contracts/wide.yaml", contract.encode())
    tables.write_parquet(frame, "s3://lake/curated/wide/run=1/part.parquet")
    state = {
        "dataset": "wide",
        "run_id": "1",
        "contract_uri": "s3://raw/contracts/wide.yaml",
        "curated_uri": "s3://lake/curated/wide/run=1/part.parquet",
    }
    prepared = prepare(state, store=store, tables=tables, lake_bucket="lake")
    state["prepare"] = prepared.dump()  # the run state holds each output's JSON
    split_uri = prepared.split_uri
    trials = [
        run_trial({**state, "trial": t, "split_uri": split_uri}, store=store, tables=tables)
        for t in prepared.trials
        if t.trial in (0, 5)
    ]
    assert [t.folds_done for t in trials] == [6, 6]  # 3 folds, repeated twice
    state["trials"] = [t.dump() for t in trials]
    trained = train_candidate(
        state, "lightgbm", store=store, tables=tables, model_bucket="m", lake_bucket="lake"
    )
    model = load_stored(store, "lightgbm", trained.model_uri, None)
    split = json.loads(store.get(split_uri))
    fit, test = np.asarray(split["train_rows"]), np.asarray(split["test_rows"])
    untuned = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 2, "seed": 42},
        lgb.Dataset(x[fit], y[fit]),
        num_boost_round=100,
    )
    fresh_x, fresh_y = wide_imbalanced(20_000, seed=1008)
    for rows_x, rows_y in ((x[test], y[test]), (fresh_x, fresh_y)):
        tuned_auc = roc_auc(rows_y, model.predict(rows_x))
        untuned_auc = roc_auc(rows_y, untuned.predict(rows_x))
        print(f"{len(rows_y)} rows: tuned {tuned_auc:.4f}, untuned {untuned_auc:.4f}")
        assert tuned_auc >= untuned_auc - 0.005
    chosen = trained.tuning
    assert chosen is not None and trained.params["num_boost_round"] == chosen["rounds"] >= 50
    print("rounds", [t.rounds for t in trials], chosen["selection"])
