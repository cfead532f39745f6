"""Curves for the evaluation report: ROC, precision-recall and reliability."""

import numpy as np

from tabflow.evaluation.metrics import confusion_counts


def curves(y: np.ndarray, scores: np.ndarray, points: int = 50) -> dict[str, list[float]]:
    """ROC, precision-recall and reliability curves, down-sampled for the report."""
    thresholds = np.quantile(scores, np.linspace(0, 1, points))[::-1]
    y = y.astype(bool)
    tpr, fpr, precision = [], [], []
    for t in thresholds:
        tp, fp, _, _ = confusion_counts(y, scores >= t)
        tpr.append(float(tp / max(y.sum(), 1)))
        fpr.append(float(fp / max((~y).sum(), 1)))
        precision.append(float(tp / max(tp + fp, 1)))
    bins = np.minimum((scores * 10).astype(int), 9)
    predicted = [float(scores[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    observed = [float(y[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    return {
        "fpr": [0.0, *fpr, 1.0],
        "tpr": [0.0, *tpr, 1.0],
        "recall": tpr,
        "precision": precision,
        "predicted": predicted,
        "observed": observed,
    }
