"""Hyper-parameter tuning with a budget: a seeded random search over LightGBM parameters,
each trial scored by K-fold cross-validation on the training rows (stratified, or expanding
windows in time). Trials are independent, so the workflow fans them out (a Map state: on
AWS, parallel Lambdas). Class weights are part of the search: the folds choose them."""

import time
from typing import Any

import numpy as np

from tabflow.evaluation.metrics import average_precision
from tabflow.features import FeatureSpec
from tabflow.models.lightgbm import TUNED_DEFAULTS, default_params, lightgbm_dataset


def trial_params(n: int, *, seed: int, task: str, class_weight: str) -> list[dict[str, Any]]:
    """The default parameters first (a tuned model never loses to them by construction of the
    search), then random draws."""
    rng = np.random.default_rng(seed)
    weights = (
        [False, True]
        if class_weight == "auto" and task == "binary"
        else [class_weight == "balanced"]
    )
    trials = [TUNED_DEFAULTS | {"is_unbalance": weights[0]}]
    for _ in range(max(0, n - 1)):
        trials.append(
            {
                "learning_rate": float(np.round(10 ** rng.uniform(-2, -0.9), 4)),
                "num_leaves": int(rng.choice([7, 15, 31, 63])),
                "min_data_in_leaf": int(rng.choice([10, 20, 40, 80, 160])),
                "feature_fraction": float(np.round(rng.uniform(0.5, 1.0), 2)),
                "lambda_l2": float(np.round(10 ** rng.uniform(-2, 1.5), 3)),
                "is_unbalance": bool(rng.choice(weights)),
            }
        )
    if task != "binary":
        for t in trials:
            t.pop("is_unbalance")
    return trials


def folds(
    y: np.ndarray, times: np.ndarray | None, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validate) positions: stratified K-fold, or expanding windows when time matters
    (fold i fits on the oldest rows and validates on the next slice: never the future)."""
    n = len(y)
    if times is not None:
        order = np.argsort(times, kind="stable")
        edges = np.linspace(0, n, k + 2).astype(int)
        return [
            (np.sort(order[: edges[i + 1]]), np.sort(order[edges[i + 1] : edges[i + 2]]))
            for i in range(k)
        ]
    rng = np.random.default_rng(seed)
    assignment = np.empty(n, dtype=int)
    classes = np.unique(y) if len(np.unique(y)) <= 50 else [None]
    for label in classes:
        rows = np.flatnonzero(y == label) if label is not None else np.arange(n)
        rng.shuffle(rows)
        assignment[rows] = np.arange(len(rows)) % k
    return [(np.flatnonzero(assignment != i), np.flatnonzero(assignment == i)) for i in range(k)]


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    params: dict[str, Any],
    fold_list: list[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    seconds: float,
) -> dict[str, Any]:
    """Mean validation score over folds (PR-AUC for binary, -RMSE for regression) and the mean
    best number of rounds; folds past the time budget are skipped (and counted)."""
    import lightgbm as lgb

    regression = spec.task == "regression"
    full = default_params(spec.task, seed) | params
    started = time.monotonic()
    scores, rounds = [], []
    for fit, valid in fold_list:
        if scores and time.monotonic() - started > seconds:
            break
        train = lightgbm_dataset(spec, x[fit], y[fit])
        booster = lgb.train(
            full,
            train,
            num_boost_round=2000,
            valid_sets=[lgb.Dataset(x[valid], y[valid], reference=train)],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        best = booster.best_iteration or booster.current_iteration()
        predicted = booster.predict(x[valid], num_iteration=best)
        if regression:
            scores.append(-float(np.sqrt(np.mean((predicted - y[valid]) ** 2))))
        else:
            scores.append(average_precision(y[valid], predicted))
        rounds.append(best)
    return {
        "score": float(np.mean(scores)),
        "folds_done": len(scores),
        "rounds": int(np.mean(rounds)),
        "seconds": round(time.monotonic() - started, 2),
    }
