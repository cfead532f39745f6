"""Decay: captured predictions joined with delayed labels, against the model's test metrics.

Each check says what its labelled rows show, with the uncertainty of a finite sample (one-sided
bounds at ``monitoring.confidence``): ``window`` is "decay" when the AUC's upper bound is below
``test AUC - decay_tolerance`` (regression: RMSE's lower bound above ``test RMSE x (1 +
tolerance)``), "ok" when the other bound is clear of that line, "unclear" in between. The
decay state and its hysteresis are in alerts.py."""

from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa

from tabflow.contract import Contract
from tabflow.evaluation.intervals import auc_interval
from tabflow.evaluation.metrics import confusion_counts, expected_calibration_error, roc_auc
from tabflow.ports import ModelVersion


def decay_check(
    table: pa.Table,
    labels: dict[str, Any],
    champion: ModelVersion,
    contract: Contract,
    now: datetime,
) -> dict[str, Any]:
    cfg = contract.monitoring
    mature_before = now - timedelta(days=cfg.label_maturity_days)
    ids = table.column("_id").to_pylist()
    at = table.column("_at").to_pylist()
    scores = table.column("_score").to_numpy(zero_copy_only=False).astype(float)
    rows = [
        i
        for i, (k, t) in enumerate(zip(ids, at, strict=True))
        if k in labels and datetime.fromisoformat(t) <= mature_before
    ]
    test_auc = champion.metrics.get("auc")
    result: dict[str, Any] = {
        "labelled": len(rows),
        "test_auc": test_auc,
        "tolerance": cfg.decay_tolerance,
    }
    if len(rows) < cfg.min_rows:
        return result | {"status": "insufficient_labels"}
    if contract.target.kind == "regression":
        truth = np.array([labels[ids[i]] for i in rows], dtype=float)
        squared = (scores[rows] - truth) ** 2
        mse = float(np.mean(squared))
        half = (
            NormalDist().inv_cdf(cfg.confidence)
            * float(np.std(squared, ddof=1))
            / np.sqrt(len(rows))
        )
        test_rmse = champion.metrics.get("rmse")
        result.update(
            rmse=float(np.sqrt(mse)),
            rmse_low=float(np.sqrt(max(mse - half, 0.0))),
            rmse_high=float(np.sqrt(mse + half)),
            test_rmse=test_rmse,
        )
        if test_rmse is None:
            return result | {"status": "ok", "window": "unclear"}
        line = test_rmse * (1 + cfg.decay_tolerance)
        window = (
            "decay"
            if result["rmse_low"] > line
            else "ok"
            if result["rmse_high"] <= line
            else "unclear"
        )
        return result | {"threshold": line, "window": window, "status": _status(window)}
    y = np.array([labels[ids[i]] for i in rows])
    s = scores[rows]
    auc = roc_auc(y, s)
    predicted = s >= champion.threshold
    tp = confusion_counts(y, predicted)[0]
    result.update(
        auc=auc,
        precision=tp / max(int(predicted.sum()), 1),
        recall=tp / max(int(y.sum()), 1),
        brier=float(np.mean((s - y) ** 2)),
        ece=expected_calibration_error(y, s),
        positives=int(y.sum()),
    )
    days = np.array([at[i][:10] for i in rows])
    result["by_day"] = [
        {
            "day": d,
            "labelled": int((days == d).sum()),
            "auc": roc_auc(y[days == d], s[days == d]),
        }
        for d in sorted(set(days.tolist()))
    ]
    if auc is None:
        return result | {"status": "one_class"}
    bounds = auc_interval(y, s, confidence=2 * cfg.confidence - 1)  # each side one-sided
    result.update(auc_low=bounds.low, auc_high=bounds.high)
    if test_auc is None:
        return result | {"status": "ok", "window": "unclear"}
    line = test_auc - cfg.decay_tolerance
    window = "decay" if bounds.high < line else "ok" if bounds.low >= line else "unclear"
    return result | {"threshold": line, "window": window, "status": _status(window)}


def _status(window: str) -> str:
    """A window's own verdict; alerts.update_decay_state replaces it by the state's."""
    return "decay" if window == "decay" else "ok"
