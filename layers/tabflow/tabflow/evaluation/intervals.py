"""How sure a held-out figure is: confidence intervals for the gates.

A gate that compares two models (candidate vs baseline, candidate vs champion) scores both on
the SAME test rows, so the comparison is paired and the noise the two share cancels:
- AUC and AUC differences: DeLong's method (the AUC as a mean of per-row placement values;
  the paired difference's variance includes the covariance of the two models on shared
  rows). Analytic, so it costs one sort per model at any test size; tests check it against
  an exact paired bootstrap.
- Macro one-vs-rest AUC (multiclass) and its paired differences: the same placements, as
  each row's influence on the mean of the per-class AUCs (so the covariance between classes
  and between two models on shared rows is counted).
- Expected calibration error: a seeded bootstrap (each resample is a vector of row counts,
  all resamples computed at once). Noise alone makes ECE positive on few rows (a perfectly
  calibrated model has ECE near 0.05 on 160 rows), so its interval is the reversed (basic)
  bootstrap interval, which removes that upward bias.
- RMSE / MAE differences and ratios (regression): the same paired bootstrap."""

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
_CHUNK_CELLS = 4_000_000  # resamples x rows per block: bounds memory (float64: 32 MB)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided confidence interval."""

    point: float
    low: float
    high: float
    confidence: float = CONFIDENCE
    method: str = "bootstrap"  # or "delong"
    resamples: int = 0  # bootstrap resamples (0 for an analytic interval)

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": round(self.point, 6),
            "low": round(self.low, 6),
            "high": round(self.high, 6),
            "confidence": self.confidence,
            "method": self.method,
            "resamples": self.resamples,
        }

    def text(self, digits: int = 4) -> str:
        pct = f"{self.confidence:.0%}"
        return f"{self.point:.{digits}f} [{pct}: {self.low:.{digits}f}, {self.high:.{digits}f}]"


def resample_counts(n: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Row multiplicities (resamples x n) of seeded bootstrap draws, in blocks that bound
    the memory used."""
    rng = np.random.default_rng(seed)
    per_block = max(1, _CHUNK_CELLS // max(n, 1))
    blocks = []
    for start in range(0, resamples, per_block):
        size = min(per_block, resamples - start)
        flat = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(flat.ravel(), minlength=size * n).reshape(size, n)
        blocks.append(counts.astype(np.float64))
    return blocks


def weighted_ece(
    y: np.ndarray, scores: np.ndarray, weights: np.ndarray, bins: int = 10
) -> np.ndarray:
    """Expected calibration error (stats.expected_calibration_error's equal-width bins) under
    each row of ``weights``."""
    idx = np.minimum((scores * bins).astype(int), bins - 1)
    onehot = np.zeros((len(scores), bins))
    onehot[np.arange(len(scores)), idx] = 1.0
    gap = weights @ (onehot * (y.astype(float) - scores)[:, None])  # sum of w*(y - s) per bin
    return np.abs(gap).sum(axis=1) / weights.sum(axis=1)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _midranks(v: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sv)) + 1]
    ends = np.r_[starts[1:], len(v)]
    ranks = np.empty(len(v))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _placements(y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components: for each positive, the share of negatives scored
    below it (ties half); for each negative, the share of positives scored above it."""
    both, pos, neg = _midranks(v), _midranks(v[y]), _midranks(v[~y])
    m, n = len(pos), len(neg)
    return (both[y] - pos) / n, 1 - (both[~y] - neg) / m


def _variance_of_mean(v: np.ndarray) -> float:
    return float(np.var(v, ddof=1) / len(v)) if len(v) > 1 else 0.0


def _binary(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        raise ValueError("an AUC interval needs both classes among the rows")
    return y


def auc_interval(y: np.ndarray, scores: np.ndarray, *, confidence: float = CONFIDENCE) -> Interval:
    """The AUC on these rows and DeLong's normal interval, within [0, 1]."""
    y = _binary(y)
    v10, v01 = _placements(y, np.asarray(scores, dtype=np.float64))
    auc = float(v10.mean())
    half = _z(confidence) * np.sqrt(_variance_of_mean(v10) + _variance_of_mean(v01))
    return Interval(
        auc, float(max(0.0, auc - half)), float(min(1.0, auc + half)), confidence, "delong"
    )


def auc_difference(
    y: np.ndarray, scores: np.ndarray, reference: np.ndarray, *, confidence: float = CONFIDENCE
) -> Interval:
    """AUC(scores) - AUC(reference) on the same rows, with DeLong's paired interval (the
    covariance of the two AUCs on shared rows is taken out of the difference's variance)."""
    y = _binary(y)
    a10, a01 = _placements(y, np.asarray(scores, dtype=np.float64))
    b10, b01 = _placements(y, np.asarray(reference, dtype=np.float64))
    d10, d01 = a10 - b10, a01 - b01
    diff = float(d10.mean())
    half = _z(confidence) * np.sqrt(_variance_of_mean(d10) + _variance_of_mean(d01))
    return Interval(
        diff, float(max(-1.0, diff - half)), float(min(1.0, diff + half)), confidence, "delong"
    )


def _macro_influence(y: np.ndarray, probabilities: np.ndarray) -> tuple[float, np.ndarray]:
    """The macro one-vs-rest AUC over the classes present with both sides among the rows,
    and each row's influence on it (its variance over the rows, divided by the row count, is
    DeLong's variance; for one class it is exactly ``auc_interval``'s)."""
    codes = np.asarray(y, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    n = len(codes)
    influence, aucs = np.zeros(n), []
    for c in range(p.shape[1]):
        positive = codes == c
        if positive.all() or not positive.any():
            continue
        v10, v01 = _placements(positive, p[:, c])
        auc = float(v10.mean())
        influence[positive] += (v10 - auc) * n / positive.sum()
        influence[~positive] += (v01 - auc) * n / (~positive).sum()
        aucs.append(auc)
    if not aucs:
        raise ValueError("a macro AUC interval needs two classes among the rows")
    return float(np.mean(aucs)), influence / len(aucs)


def macro_auc_interval(
    y: np.ndarray, probabilities: np.ndarray, *, confidence: float = CONFIDENCE
) -> Interval:
    """The macro one-vs-rest AUC on these rows and its DeLong-style normal interval."""
    macro, influence = _macro_influence(y, probabilities)
    half = _z(confidence) * np.sqrt(_variance_of_mean(influence))
    return Interval(
        macro, float(max(0.0, macro - half)), float(min(1.0, macro + half)), confidence, "delong"
    )


def macro_auc_difference(
    y: np.ndarray,
    probabilities: np.ndarray,
    reference: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Macro AUC of ``probabilities`` minus that of ``reference`` on the same rows, with the
    paired interval (the per-row influences are differenced before their variance)."""
    a, ia = _macro_influence(y, probabilities)
    b, ib = _macro_influence(y, reference)
    diff = a - b
    half = _z(confidence) * np.sqrt(_variance_of_mean(ia - ib))
    return Interval(
        diff, float(max(-1.0, diff - half)), float(min(1.0, diff + half)), confidence, "delong"
    )


def ece_interval(
    y: np.ndarray,
    scores: np.ndarray,
    *,
    bins: int = 10,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Expected calibration error and its reversed-percentile (basic) bootstrap interval:
    [2*ece - q_high, 2*ece - q_low], clipped at 0. The bootstrap distribution sits above the
    estimate by about the estimate's own upward bias, so the reversal removes it."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    point = float(weighted_ece(y, s, np.ones((1, len(y))), bins)[0])
    values = np.concatenate(
        [weighted_ece(y, s, w, bins) for w in resample_counts(len(y), resamples, seed)]
    )
    q_low, q_high = _percentiles(values, confidence)
    return Interval(
        point,
        max(0.0, 2 * point - q_high),
        max(0.0, 2 * point - q_low),
        confidence,
        "basic bootstrap",
        resamples,
    )


def error_difference(
    y: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray,
    *,
    metric: str = "rmse",
    ratio: bool = False,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Paired interval of RMSE (or MAE) of ``predicted`` minus that of ``reference`` on the
    same rows, or of their ratio when ``ratio``."""
    y = np.asarray(y, dtype=np.float64)
    power = 2 if metric == "rmse" else 1
    a = np.abs(np.asarray(predicted, dtype=np.float64) - y) ** power
    b = np.abs(np.asarray(reference, dtype=np.float64) - y) ** power

    def measure(w: np.ndarray) -> np.ndarray:
        n = w.sum(axis=1)
        ea, eb = (w @ a) / n, (w @ b) / n
        if power == 2:
            ea, eb = np.sqrt(ea), np.sqrt(eb)
        return ea / np.where(eb > 0, eb, np.nan) if ratio else ea - eb

    point = float(measure(np.ones((1, len(y))))[0])
    values = np.concatenate([measure(w) for w in resample_counts(len(y), resamples, seed)])
    low, high = _percentiles(values[np.isfinite(values)], confidence)
    return Interval(point, low, high, confidence, "bootstrap", resamples)
