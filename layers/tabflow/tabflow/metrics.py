"""Binary classification metrics on held-out rows."""

from typing import Any

import numpy as np


def binary_metrics(y_true: np.ndarray, scores: np.ndarray, *, threshold: float) -> dict[str, Any]:
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y_pred = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    two_classes = len(np.unique(y_true)) == 2
    return {
        "auc": round(float(roc_auc_score(y_true, scores)), 6) if two_classes else None,
        "pr_auc": round(float(average_precision_score(y_true, scores)), 6) if two_classes else None,
        "precision": round(float(precision_score(y_true, y_pred, zero_division=0)), 6),
        "recall": round(float(recall_score(y_true, y_pred, zero_division=0)), 6),
        "f1": round(float(f1_score(y_true, y_pred, zero_division=0)), 6),
        "threshold": threshold,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "rows": int(len(y_true)),
        "positives": int(np.sum(y_true)),
    }
