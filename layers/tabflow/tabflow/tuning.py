"""Hyper-parameter tuning with a budget that never loses to the defaults.

A seeded random search over LightGBM parameters; the project's default parameters are always
trial 0 (the workflow fans the trials out in a Map state that tolerates no failed item, so a
run never goes on without them). Each trial is cross-validated on the training rows
(stratified K-fold, repeated on small data; or expanding windows in time), all folds boosted
in lockstep: the number of rounds is the argmax of the MEAN validation curve over the folds
(AUC for binary, multi-class log loss for multiclass, L2 for regression), not one fold's
early stop; each fold is then scored by AUC (multiclass: macro AUC) or -RMSE. A tuned trial replaces the
defaults only when it beats them on the same folds by more than one standard error of the
per-fold differences (the best of several random draws is flattered by luck)."""

import math
import statistics
import time
from typing import Any

import numpy as np

from tabflow.features import FeatureSpec
from tabflow.models.lightgbm import (
    TUNED_DEFAULTS,
    default_params,
    lightgbm_dataset,
    task_params,
    validation_quality,
)

DEFAULT_PARAMS: dict[str, Any] = dict(TUNED_DEFAULTS)  # trial 0, what tuning must beat
SMALL_DATA_ROWS = 10_000  # below this many training rows the folds are repeated
SMALL_DATA_REPEATS = 2
MAX_ROUNDS = 2000


def trial_params(n: int, *, seed: int, task: str, class_weight: str) -> list[dict[str, Any]]:
    """The default parameters first (trial 0: what a tuned model must beat), then random
    draws; ``n`` is at least 1, so the defaults are always tried."""
    rng = np.random.default_rng(seed)
    weights = (
        [False, True]
        if class_weight == "auto" and task in ("binary", "multiclass")
        else [class_weight == "balanced"]
    )
    trials = [DEFAULT_PARAMS | {"is_unbalance": weights[0]}]
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
    if task == "regression":
        for t in trials:
            t.pop("is_unbalance")
    return trials


def repeats_for(rows: int) -> int:
    """Small data gives noisy fold scores: repeat the K folds with other shuffles."""
    return SMALL_DATA_REPEATS if rows < SMALL_DATA_ROWS else 1


def folds(
    y: np.ndarray, times: np.ndarray | None, k: int, seed: int, repeats: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validate) positions: stratified K-fold repeated ``repeats`` times (by default
    ``repeats_for(len(y))``), or expanding windows when time matters (fold i fits on the
    oldest rows and validates on the next slice: never the future; not repeated)."""
    n = len(y)
    if times is not None:
        order = np.argsort(times, kind="stable")
        edges = np.linspace(0, n, k + 2).astype(int)
        return [
            (np.sort(order[: edges[i + 1]]), np.sort(order[edges[i + 1] : edges[i + 2]]))
            for i in range(k)
        ]
    out = []
    for r in range(repeats_for(n) if repeats is None else repeats):
        rng = np.random.default_rng(seed + r)
        assignment = np.empty(n, dtype=int)
        classes = np.unique(y) if len(np.unique(y)) <= 50 else [None]
        for label in classes:
            rows = np.flatnonzero(y == label) if label is not None else np.arange(n)
            rng.shuffle(rows)
            assignment[rows] = np.arange(len(rows)) % k
        out += [
            (np.flatnonzero(assignment != i), np.flatnonzero(assignment == i)) for i in range(k)
        ]
    return out


def patience(learning_rate: float) -> int:
    """Rounds without a better mean score before stopping: more for slower learning."""
    return max(50, math.ceil(2.0 / learning_rate))


class _MeanCurve:
    """lightgbm.cv callback: follows the mean validation curve over the folds, remembers
    its best round, stops after ``wait`` rounds without improvement or past the time
    budget (then the best round so far is used)."""

    order = 30

    def __init__(self, wait: int, seconds: float) -> None:
        self.wait, self.deadline = wait, time.monotonic() + seconds
        self.best_round, self.best_value = 0, -math.inf
        self.best_result: list[Any] = []
        self.stopped = "max_rounds"

    def __call__(self, env: Any) -> None:
        import lightgbm as lgb

        result = env.evaluation_result_list[0]  # (data, metric, mean, higher_better, std)
        value = result[2] if result[3] else -result[2]
        if value > self.best_value:
            self.best_round, self.best_value = env.iteration, value
            self.best_result = env.evaluation_result_list
        if env.iteration - self.best_round >= self.wait:
            self.stopped = "plateau"
        elif time.monotonic() > self.deadline:
            self.stopped = "time budget"
        else:
            return
        raise lgb.callback.EarlyStopException(self.best_round, self.best_result)


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
    """Boost every fold in lockstep and read the number of rounds off the mean validation
    curve (AUC for binary, L2 for regression). Returns the mean score at that round, each
    fold's score there (AUC, or -RMSE) for paired comparisons between trials, the rounds,
    and why the boosting stopped (a plateau, the time budget, or the round limit)."""
    import lightgbm as lgb

    from tabflow.evaluation.metrics import roc_auc

    regression = spec.task == "regression"
    metric = {"regression": "l2", "multiclass": "multi_logloss"}.get(spec.task, "auc")
    full, balanced = task_params(
        spec, default_params(spec.task, seed, len(spec.classes)) | {"metric": metric} | params
    )
    started = time.monotonic()
    rows = np.unique(np.concatenate([np.concatenate([f, v]) for f, v in fold_list]))
    local = [(np.searchsorted(rows, f), np.searchsorted(rows, v)) for f, v in fold_list]
    curve = _MeanCurve(patience(float(full.get("learning_rate", 0.1))), seconds)
    result = lgb.cv(
        full,
        lightgbm_dataset(spec, x[rows], y[rows], balanced=balanced),
        num_boost_round=MAX_ROUNDS,
        folds=local,
        callbacks=[curve],
        return_cvbooster=True,
    )
    rounds = curve.best_round + 1
    fold_scores = []
    boosters = result["cvbooster"].boosters  # type: ignore[union-attr]
    for booster, (_, valid) in zip(boosters, fold_list, strict=True):
        predicted = booster.predict(x[valid], num_iteration=rounds)
        if regression:
            fold_scores.append(-float(np.sqrt(np.mean((predicted - y[valid]) ** 2))))
        elif spec.task == "multiclass":
            fold_scores.append(validation_quality(spec, y[valid], predicted))
        else:
            fold_scores.append(float(roc_auc(y[valid], predicted) or 0.0))
    return {
        "score": float(np.mean(fold_scores)),
        "fold_scores": [round(s, 6) for s in fold_scores],
        "metric": "-rmse" if regression else ("macro_auc" if spec.task == "multiclass" else "auc"),
        "folds_done": len(fold_scores),
        "rounds": rounds,
        "stopped": curve.stopped,
        "seconds": round(time.monotonic() - started, 2),
    }


def select_trial(trials: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The trial whose parameters train the model: the best cross-validated score, but the
    defaults (trial 0) stay unless the best beats them on the same folds by more than one
    standard error of the per-fold differences. The result says which and why."""
    if not trials:
        return None
    best = max(trials, key=lambda t: (t["score"], -t["trial"]))
    defaults = next((t for t in trials if t["trial"] == 0), None)
    if defaults is None:
        return best | {"selection": "best cross-validated score (no defaults trial)"}
    if best is defaults:
        return best | {"selection": "the defaults scored best"}
    a, b = best.get("fold_scores", []), defaults.get("fold_scores", [])
    if len(a) == len(b) and len(a) > 1:
        diffs = [u - v for u, v in zip(a, b, strict=True)]
        gain, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    else:  # results without fold scores: the means only
        gain, se = best["score"] - defaults["score"], 0.0
    if gain > se:
        return best | {
            "selection": f"trial {best['trial']} beat the defaults by {gain:.4f} on the same "
            f"folds (standard error {se:.4f})"
        }
    return defaults | {
        "selection": f"the defaults: trial {best['trial']} scored {gain:+.4f} on the same folds, "
        f"within one standard error ({se:.4f})"
    }
