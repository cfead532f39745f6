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
