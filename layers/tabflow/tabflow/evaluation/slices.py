"""Metrics per group of the contract's declared slice columns (the fairness gate reads them)."""

from typing import Any

import numpy as np

from tabflow.contract import Contract
from tabflow.evaluation.metrics import roc_auc


def slice_metrics(
    contract: Contract, test_frame: Any, y: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    """AUC per group of each declared slice column, on the test rows."""
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
                roc_auc(y[mask], scores[mask])
                if mask.sum() >= contract.gates.min_slice_rows
                else None
            )
            groups[value] = {
                "rows": int(mask.sum()),
                "positives": int(y[mask].sum()),
                "auc": None if auc is None else round(auc, 6),
            }
        out[column] = groups
    return out
