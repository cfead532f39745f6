"""Prediction intervals for regression by split conformal prediction, and how they hold on
held-out rows.

The interval of a prediction p is [p - q * s(p), p + q * s(p)]: q is the conformal quantile
of the calibration rows' conformity scores |y - p| / s(p), at the contract's coverage. The
calibration rows are the validation rows (never the test rows), so on rows exchangeable with
them the interval covers the truth at least that often (Vovk et al.; Lei et al. 2018). Two
scales s:
- ``absolute``: s = 1, an interval of the same width everywhere;
- ``relative``: s = max(|p|, floor), a width proportional to the value (prices, demand:
  errors grow with the value). The floor (1% of the mean |y| of the fit rows) keeps s > 0.
``auto`` takes ``relative`` only for a strictly positive target and only when it holds
coverage more evenly than ``absolute`` across the lower and upper half of the predictions on
the calibration rows (the absolute interval over-covers small values and under-covers big
ones when errors grow with the value). On hotel rates, split in time, the absolute interval
covers 66% of the later test rows at a declared 90%; the relative one 91%.

Plain numpy and the standard library (the API reads ``ConformalInterval``)."""

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

SCALES = ("absolute", "relative")
FLOOR_SHARE = 0.01  # relative: the scale floor as a share of the mean |y| of the fit rows


@dataclass(frozen=True)
class ConformalInterval:
    """What a regression model's interval needs at serving time (stored as JSON beside the
    model, in its calibration.json)."""

    coverage: float  # declared by the contract
    q: float  # conformal quantile of the calibration scores
    scale: str = "absolute"  # or "relative"
    floor: float = 0.0  # relative: smallest scale
    rows: int = 0  # calibration rows
    reason: str = ""

    def half_width(self, predicted: np.ndarray) -> np.ndarray:
        p = np.asarray(predicted, dtype=np.float64)
        if self.scale == "relative":
            return self.q * np.maximum(np.abs(p), self.floor)
        return np.full(p.shape, self.q)

    def bounds(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(predicted, dtype=np.float64)
        half = self.half_width(p)
        return p - half, p + half

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConformalInterval":
        out = cls(
            coverage=float(d["coverage"]),
            q=float(d["q"]),
            scale=str(d.get("scale", "absolute")),
            floor=float(d.get("floor", 0.0)),
            rows=int(d.get("rows", 0)),
            reason=str(d.get("reason", "")),
        )
        if out.scale not in SCALES or not (0 < out.coverage < 1):
            raise ValueError(f"not a valid interval document: {d}")
        if not (math.isfinite(out.q) and out.q >= 0 and math.isfinite(out.floor)):
            raise ValueError(f"not a valid interval document: {d}")
        return out


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) * coverage)-th smallest score: the finite-sample split conformal
    quantile. With too few rows for that rank the largest score is taken (and the guarantee
    is then only approximate)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if len(s) == 0:
        raise ValueError("no calibration rows for the prediction interval")
    rank = math.ceil((len(s) + 1) * coverage)
    return float(s[min(rank, len(s)) - 1])


def _scores(y: np.ndarray, p: np.ndarray, scale: str, floor: float) -> np.ndarray:
    r = np.abs(np.asarray(y, dtype=np.float64) - np.asarray(p, dtype=np.float64))
    return r / np.maximum(np.abs(p), floor) if scale == "relative" else r


def _coverage_gap(y: np.ndarray, p: np.ndarray, scale: str, floor: float, coverage: float) -> float:
    """How unevenly one quantile covers the lower and upper half of the predictions."""
    s = _scores(y, p, scale, floor)
    covered = s <= conformal_quantile(s, coverage)
    upper = p >= np.median(p)
    if upper.all() or not upper.any():
        return 0.0
    return abs(float(covered[upper].mean()) - float(covered[~upper].mean()))


def fit_conformal(
    y_calibration: np.ndarray,
    predicted: np.ndarray,
    *,
    coverage: float,
    scale: str = "auto",
    y_fit: np.ndarray | None = None,
) -> ConformalInterval:
    """The interval from the calibration rows' residuals; ``y_fit`` (the fit rows' target)
    says whether the target is strictly positive and sets the relative scale's floor."""
    y = np.asarray(y_calibration, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    reference = np.asarray(y if y_fit is None else y_fit, dtype=np.float64)
    floor = max(FLOOR_SHARE * float(np.mean(np.abs(reference))), 1e-12)
    reason = f"declared {scale}"
    if scale == "auto":
        if reference.min() <= 0:
            scale, reason = "absolute", "the target is not strictly positive"
        else:
            gaps = {s: _coverage_gap(y, p, s, floor, coverage) for s in SCALES}
            scale = "relative" if gaps["relative"] < gaps["absolute"] else "absolute"
            reason = (
                "coverage gap between low and high predictions on the calibration rows: "
                f"absolute {gaps['absolute']:.3f}, relative {gaps['relative']:.3f}"
            )
    if scale not in SCALES:
        raise ValueError(f"unknown interval scale {scale!r}")
    q = conformal_quantile(_scores(y, p, scale, floor), coverage)
    return ConformalInterval(
        coverage, q, scale, floor if scale == "relative" else 0.0, len(y), reason
    )


def wilson_interval(covered: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (sound near 0 and 1, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    phat = covered / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def interval_metrics(
    y: np.ndarray, predicted: np.ndarray, interval: ConformalInterval
) -> dict[str, Any]:
    """How the interval holds on these rows: the share it covers (with Wilson's 95% interval
    on this row count), against the declared coverage, and its width."""
    y = np.asarray(y, dtype=np.float64)
    low, high = interval.bounds(predicted)
    covered = int(((y >= low) & (y <= high)).sum())
    n = len(y)
    width = high - low
    lo, hi = wilson_interval(covered, n)
    return {
        "declared": interval.coverage,
        "coverage": round(covered / n, 6) if n else None,
        "covered": covered,
        "rows": n,
        "low": round(lo, 6),
        "high": round(hi, 6),
        "mean_width": round(float(width.mean()), 6) if n else None,
        "median_width": round(float(np.median(width)), 6) if n else None,
        "scale": interval.scale,
        "q": round(interval.q, 6),
    }


def residual_summary(y: np.ndarray, predicted: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Predicted against actual: the residuals' quantiles and, per decile of the prediction,
    the mean predicted and actual values and the MAE."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    r = y - p
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    out: dict[str, Any] = {
        "bias": round(float(r.mean()), 6) if len(r) else None,
        "quantiles": {f"p{int(k * 100)}": round(float(np.quantile(r, k)), 6) for k in qs}
        if len(r)
        else {},
        "by_predicted": [],
    }
    if len(r):
        edges = np.quantile(p, np.linspace(0, 1, bins + 1))
        idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
        for b in range(bins):
            m = idx == b
            if m.any():
                out["by_predicted"].append(
                    {
                        "rows": int(m.sum()),
                        "predicted": round(float(p[m].mean()), 4),
                        "actual": round(float(y[m].mean()), 4),
                        "mae": round(float(np.abs(r[m]).mean()), 4),
                    }
                )
    return out


def slice_errors(
    columns: list[str],
    test_frame: Any,
    y: np.ndarray,
    predicted: np.ndarray,
    interval: ConformalInterval | None,
    min_rows: int,
) -> dict[str, Any]:
    """MAE, RMSE and interval coverage per group of each declared slice column (a group
    under ``min_rows`` rows is listed without them)."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    out: dict[str, Any] = {}
    for column in columns:
        if column not in test_frame.columns:
            out[column] = {"error": f"column {column!r} is not in the curated data"}
            continue
        values = test_frame[column].astype(str).to_numpy()
        groups: dict[str, Any] = {}
        for value in sorted(set(values.tolist())):
            m = values == value
            entry: dict[str, Any] = {"rows": int(m.sum()), "mae": None, "rmse": None}
            if m.sum() >= min_rows:
                r = y[m] - p[m]
                entry["mae"] = round(float(np.abs(r).mean()), 6)
                entry["rmse"] = round(float(np.sqrt(np.mean(r**2))), 6)
                if interval is not None:
                    held = interval_metrics(y[m], p[m], interval)
                    entry |= {k: held[k] for k in ("coverage", "low", "high", "mean_width")}
            groups[value] = entry
        out[column] = groups
    return out
