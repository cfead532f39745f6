"""Decay: captured predictions joined with delayed labels, against the model's test metrics."""

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from tabflow.calibration import Calibrator
from tabflow.contract import Contract
from tabflow.evaluation.conformal import ConformalInterval, wilson_interval
from tabflow.evaluation.metrics import confusion_counts, expected_calibration_error, roc_auc
from tabflow.ports import ModelVersion, ObjectStore


def served_interval(store: ObjectStore, champion: ModelVersion) -> ConformalInterval | None:
    """The prediction interval a regression champion serves (in its calibration file)."""
    if not champion.calibration_uri:
        return None
    return Calibrator.from_json(store.get(champion.calibration_uri)).interval


def decay_check(
    table: pa.Table,
    labels: dict[str, Any],
    champion: ModelVersion,
    contract: Contract,
    now: datetime,
    interval: ConformalInterval | None = None,
) -> dict[str, Any]:
    """``interval``: a regression champion's served interval, to report how often it holds
    the labelled values (decay when the whole 95% interval of that share is below the declared
    coverage minus the gates' ``coverage_tolerance``)."""
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
        rmse = float(np.sqrt(np.mean((scores[rows] - truth) ** 2)))
        test_rmse = champion.metrics.get("rmse")
        decayed = test_rmse is not None and rmse > test_rmse * (1 + cfg.decay_tolerance)
        if interval is not None:
            low, high = interval.bounds(scores[rows])
            covered = int(((truth >= low) & (truth <= high)).sum())
            bounds = wilson_interval(covered, len(rows))
            result["coverage"] = {
                "coverage": covered / len(rows),
                "low": bounds[0],
                "high": bounds[1],
                "declared": interval.coverage,
                "test_coverage": champion.metrics.get("coverage"),
            }
            decayed |= bounds[1] < interval.coverage - contract.gates.coverage_tolerance
        return result | {
            "rmse": rmse,
            "test_rmse": test_rmse,
            "status": "decay" if decayed else "ok",
        }
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
    decayed = test_auc is not None and auc < test_auc - cfg.decay_tolerance
    return result | {"status": "decay" if decayed else "ok"}
