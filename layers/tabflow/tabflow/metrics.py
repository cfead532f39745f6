"""Binary classification metrics on held-out rows (numpy; tested against scikit-learn)."""

from typing import Any

import numpy as np

from tabflow.stats import expected_calibration_error, roc_auc

# What a summary of a model's held-out performance shows (emails, Step Functions payloads).
BINARY_SUMMARY = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold", "rows")
REGRESSION_SUMMARY = ("rmse", "mae", "r2", "rows")


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as a step function (scikit-learn's definition)."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    s, t = np.asarray(scores)[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last row of each threshold
    tp = np.cumsum(t)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0, recall]) * precision))


def binary_metrics(y_true: np.ndarray, scores: np.ndarray, *, threshold: float) -> dict[str, Any]:
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    auc = roc_auc(y, s)
    return {
        "auc": round(auc, 6) if auc is not None else None,
        "pr_auc": round(average_precision(y, s), 6) if y.any() and (~y).any() else None,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(2 * precision * recall / (precision + recall), 6)
        if precision + recall
        else 0.0,
        "brier": round(float(np.mean((s - y) ** 2)), 6),
        "ece": round(expected_calibration_error(y, s), 6),
        "threshold": threshold,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        "rows": int(len(y)),
        "positives": int(y.sum()),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    y, p = np.asarray(y_true, float), np.asarray(predicted, float)
    residual = p - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "rmse": round(float(np.sqrt(np.mean(residual**2))), 6),
        "mae": round(float(np.mean(np.abs(residual))), 6),
        "r2": round(1 - float(np.sum(residual**2)) / total, 6) if total else None,
        "rows": int(len(y)),
    }
