"""Decay: captured predictions joined with delayed labels, against the model's test metrics.

Each check says what its labelled rows show, with the uncertainty of a finite sample (one-sided
bounds at ``monitoring.confidence``): ``window`` is "decay" when the AUC's upper bound is below
``test AUC - decay_tolerance`` (multiclass: the macro one-vs-rest AUC of the captured class
probabilities, against the test macro AUC; regression: RMSE's lower bound above ``test RMSE x (1 +
tolerance)``), "ok" when the other bound is clear of that line, "unclear" in between. A
regression champion's served interval is judged too: the share of labelled values inside it
(Wilson bounds at the same confidence) against ``target.coverage - gates.coverage_tolerance``;
either verdict of "decay" makes the window's. The decay state and its hysteresis are in
alerts.py."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa

from tabflow.calibration import Calibrator
from tabflow.contract import Contract, Monitoring
from tabflow.evaluation.conformal import ConformalInterval, wilson_interval
from tabflow.evaluation.intervals import Interval, auc_interval, macro_auc_interval
from tabflow.evaluation.metrics import (
    confusion_counts,
    expected_calibration_error,
    multiclass_metrics,
    roc_auc,
)
from tabflow.monitoring.captures import class_probabilities
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
    *,
    classes: Sequence[str] = (),
) -> dict[str, Any]:
    """``interval``: a regression champion's served interval, whose coverage of the labelled
    values is reported and judged; ``classes``: a multiclass champion's classes (the order
    of its probabilities and of the label codes)."""
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
        windows = []
        if test_rmse is not None:
            line = test_rmse * (1 + cfg.decay_tolerance)
            result["threshold"] = line
            windows.append(
                "decay"
                if result["rmse_low"] > line
                else "ok"
                if result["rmse_high"] <= line
                else "unclear"
            )
        if interval is not None:
            result["coverage"] = _coverage(interval, scores[rows], truth, champion, contract)
            windows.append(result["coverage"]["window"])
        if not windows:
            return result | {"status": "ok", "window": "unclear"}
        window = "decay" if "decay" in windows else "ok" if set(windows) == {"ok"} else "unclear"
        return result | {"window": window, "status": _status(window)}
    if contract.target.kind == "multiclass":
        return _multiclass(result, table, rows, [labels[ids[i]] for i in rows], classes, cfg)
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
    return _judged(result, bounds, cfg)


def _judged(result: dict[str, Any], bounds: Interval, cfg: Monitoring) -> dict[str, Any]:
    """The window's verdict from the AUC's bounds and the test AUC minus the tolerance."""
    result.update(auc_low=bounds.low, auc_high=bounds.high)
    test_auc = result["test_auc"]
    if test_auc is None:
        return result | {"status": "ok", "window": "unclear"}
    line = test_auc - cfg.decay_tolerance
    window = "decay" if bounds.high < line else "ok" if bounds.low >= line else "unclear"
    return result | {"threshold": line, "window": window, "status": _status(window)}


def _multiclass(
    result: dict[str, Any],
    table: pa.Table,
    rows: list[int],
    truth: list[int],
    classes: Sequence[str],
    cfg: Monitoring,
) -> dict[str, Any]:
    """Macro AUC of the captured probabilities against the label codes; rows captured
    without their probabilities are counted and left out."""
    if not classes:
        raise ValueError("a multiclass decay check needs the model's classes")
    p = class_probabilities(table, len(classes))[rows]
    y = np.asarray(truth, dtype=np.int64)
    scored = ~np.isnan(p).any(axis=1)
    if not scored.all():
        result["without_probabilities"] = int((~scored).sum())
        p, y = p[scored], y[scored]
        if len(y) < cfg.min_rows:
            return result | {"status": "insufficient_labels"}
    metrics = multiclass_metrics(y, p, list(classes))
    per_class = metrics["per_class"].values()
    recalls = [c["recall"] for c in per_class if c["recall"] is not None]
    result.update(
        auc=metrics["auc"],  # macro one-vs-rest, as the test AUC of a multiclass model
        weighted_auc=metrics["weighted_auc"],
        log_loss=metrics["log_loss"],
        accuracy=metrics["accuracy"],
        precision=float(np.mean([c["precision"] for c in per_class])),  # macro means
        recall=float(np.mean(recalls)) if recalls else 0.0,
        brier=metrics["brier"],
        ece=metrics["ece"],
        per_class=metrics["per_class"],
        confusion_matrix=metrics["confusion_matrix"],
    )
    at = table.column("_at").to_pylist()
    days = np.array([at[i][:10] for i in rows])[scored]
    result["by_day"] = [
        {
            "day": d,
            "labelled": int((days == d).sum()),
            "auc": multiclass_metrics(y[days == d], p[days == d], list(classes))["auc"],
        }
        for d in sorted(set(days.tolist()))
    ]
    if metrics["auc"] is None:
        return result | {"status": "one_class"}
    bounds = macro_auc_interval(y, p, confidence=2 * cfg.confidence - 1)  # one-sided sides
    return _judged(result, bounds, cfg)


def _coverage(
    interval: ConformalInterval,
    predicted: np.ndarray,
    truth: np.ndarray,
    champion: ModelVersion,
    contract: Contract,
) -> dict[str, Any]:
    """How often the served interval holds the labelled values: "decay" when the share's
    upper bound is below the declared coverage minus the gates' tolerance, "ok" when its
    lower bound is not (one-sided bounds at ``monitoring.confidence``)."""
    low, high = interval.bounds(predicted)
    covered = int(((truth >= low) & (truth <= high)).sum())
    lo, hi = wilson_interval(covered, len(truth), 2 * contract.monitoring.confidence - 1)
    line = interval.coverage - contract.gates.coverage_tolerance
    return {
        "coverage": covered / len(truth),
        "low": lo,
        "high": hi,
        "declared": interval.coverage,
        "test_coverage": champion.metrics.get("coverage"),
        "window": "decay" if hi < line else "ok" if lo >= line else "unclear",
    }


def _status(window: str) -> str:
    """A window's own verdict; alerts.update_decay_state replaces it by the state's."""
    return "decay" if window == "decay" else "ok"
