"""Model metrics on held-out rows: AUC, average precision, calibration error, the confusion
counts, and the binary, multiclass and regression metric sets (numpy; tested against scikit-learn)."""

from typing import Any

import numpy as np


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    """AUC by the rank-sum (Mann-Whitney) formula, ties averaged; None without both classes."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse]  # a tie group's average rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    y = np.asarray(y, float)
    idx = np.minimum((np.asarray(scores) * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - np.asarray(scores)[mask].mean())
    return float(total)


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of boolean predictions against the labels."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(predicted).astype(bool)
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    return tp, fp, fn, tn


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
    tp, fp, fn, tn = confusion_counts(y, s >= threshold)
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


def multiclass_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, classes: "list[str] | tuple[str, ...]"
) -> dict[str, Any]:
    """Class codes against class probabilities (rows x classes, the order of ``classes``):
    one-vs-rest AUC per class, their macro and support-weighted means (``auc`` is the macro
    AUC: what gates and selection read), log loss, accuracy of the most probable class,
    top-label calibration error, per-class precision and recall, and the confusion matrix
    (rows: true class, columns: predicted class)."""
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    k = len(classes)
    predicted = p.argmax(axis=1)
    support = np.bincount(y, minlength=k)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    aucs = [roc_auc(y == c, p[:, c]) for c in range(k)]
    scored = [c for c in range(k) if aucs[c] is not None]
    macro = float(np.mean([aucs[c] for c in scored])) if scored else None
    weighted = (
        float(sum(support[c] * aucs[c] for c in scored) / support[scored].sum()) if scored else None
    )
    chosen = np.clip(p[np.arange(len(y)), y], 1e-15, 1.0)
    onehot = np.eye(k)[y]
    per_class = {}
    for c, label in enumerate(classes):
        said = int(confusion[:, c].sum())
        per_class[str(label)] = {
            "auc": None if aucs[c] is None else round(aucs[c], 6),
            "precision": round(confusion[c, c] / said, 6) if said else 0.0,
            "recall": round(confusion[c, c] / support[c], 6) if support[c] else None,
            "rows": int(support[c]),
        }
    return {
        "auc": None if macro is None else round(macro, 6),
        "weighted_auc": None if weighted is None else round(weighted, 6),
        "log_loss": round(float(-np.mean(np.log(chosen))), 6) if len(y) else None,
        "accuracy": round(float(np.mean(predicted == y)), 6) if len(y) else None,
        "brier": round(float(np.mean(np.sum((p - onehot) ** 2, axis=1))), 6) if len(y) else None,
        "ece": round(expected_calibration_error(predicted == y, p.max(axis=1)), 6)
        if len(y)
        else None,
        "per_class": per_class,
        "confusion_matrix": {"labels": [str(c) for c in classes], "counts": confusion.tolist()},
        "rows": int(len(y)),
    }
