"""Metrics per group of the contract's declared slice columns (the fairness gate reads them)."""

from typing import Any

import numpy as np

from tabflow.contract import Contract
from tabflow.evaluation.intervals import macro_auc_interval
from tabflow.evaluation.metrics import multiclass_metrics, roc_auc


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    """AUC, or for rows x classes probabilities the macro one-vs-rest AUC."""
    if scores.ndim == 1:
        return roc_auc(y, scores)
    if len(np.unique(y)) < 2:
        return None
    return multiclass_metrics(y, scores, [str(c) for c in range(scores.shape[1])])["auc"]


def slice_metrics(
    contract: Contract, test_frame: Any, y: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    """AUC (multiclass: macro AUC) per group of each declared slice column, on the test rows."""
    out: dict[str, Any] = {}
    for column in contract.gates.slices:
        if column not in test_frame.columns:
            out[column] = {"error": f"column {column!r} is not in the curated data"}
            continue
        groups = {}
        values = test_frame[column].astype(str).to_numpy()
        for value in sorted(set(values.tolist())):
            mask = values == value
            auc = (
                _auc(y[mask], scores[mask]) if mask.sum() >= contract.gates.min_slice_rows else None
            )
            groups[value] = {
                "rows": int(mask.sum()),
                "positives": int(y[mask].sum()) if scores.ndim == 1 else None,
                "auc": None if auc is None else round(auc, 6),
            }
            if auc is not None and scores.ndim == 2:  # multiclass: how sure the group's AUC is
                interval = macro_auc_interval(y[mask], scores[mask])
                groups[value] |= {"low": round(interval.low, 6), "high": round(interval.high, 6)}
        out[column] = groups
    return out
