"""Statistical tests in plain numpy: the Monitor function's layers (domain + data: numpy,
pandas, pyarrow) carry no scipy, so KS and chi-square stay hand-written here.

They agree with scipy: the KS statistic is identical to scipy.stats.ks_2samp's and its
p-value follows scipy's asymptotic method to within 2e-3 from a thousand rows per sample;
chi2_sf and the contingency test match scipy.stats.chi2.sf and chi2_contingency
(tests/unit/test_stats.py)."""

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np


def ks_2samp(a: np.ndarray, b: np.ndarray, *, presorted: bool = False) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (statistic D, asymptotic two-sided p-value).

    Exact D without evaluating both CDFs at every pooled point: between two consecutive
    distinct values of the smaller sample its CDF is flat while the other one only rises, so
    the largest gap is at those values, on the right (the CDF) or on the left (its limit).
    Cost: sorting, plus lookups of the smaller sample in the larger (a 5,000-value reference
    sample against a million window values costs one sort of the window)."""
    if not presorted:
        a, b = np.sort(a), np.sort(b)
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return 0.0, 1.0
    small, large = (a, b) if n <= m else (b, a)
    points = small[np.concatenate([[True], small[1:] != small[:-1]])]  # distinct, sorted
    gaps = [
        np.searchsorted(small, points, side=side) / len(small)
        - np.searchsorted(large, points, side=side) / len(large)
        for side in ("right", "left")
    ]
    d = float(max(np.max(np.abs(gaps[0])), np.max(np.abs(gaps[1]))))
    en = n * m / (n + m)
    return d, kolmogorov_sf(d, en)


def ks_interval(d: float, n: int, m: int, confidence: float) -> tuple[float, float]:
    """Bounds of the true KS distance given the observed ``d`` of samples of n and m values:
    at the point of the largest gap the two empirical CDFs differ from the true gap by a
    normal error of variance at most (1/n + 1/m)/4. (With no change at all, D is biased
    upwards; the test's p-value, which every drifting test also needs, guards that case.)"""
    if n == 0 or m == 0:
        return 0.0, 1.0
    half = NormalDist().inv_cdf(confidence) * 0.5 * math.sqrt((n + m) / (n * m))
    return max(0.0, d - half), min(1.0, d + half)


def rate_change_interval(k1: int, n1: int, k2: int, n2: int, z: float) -> tuple[float, float]:
    """Bounds of |p2 - p1| from an Agresti-Caffo interval of p2 - p1 (one success and one
    failure added to each sample: sound for rates near 0 and for small samples)."""
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    p1, p2 = (k1 + 1) / (n1 + 2), (k2 + 1) / (n2 + 2)
    half = z * math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
    lo, hi = p2 - p1 - half, p2 - p1 + half
    return (max(0.0, lo, -hi), max(abs(lo), abs(hi)))


def share_change_interval(ref: np.ndarray, win: np.ndarray, z: float) -> tuple[float, float]:
    """Bounds of the largest change of a category's share (max_k |s2_k - s1_k|), each share
    with an Agresti-Caffo interval."""
    ref, win = np.asarray(ref, float), np.asarray(win, float)
    n1, n2 = ref.sum(), win.sum()
    if n1 == 0 or n2 == 0 or len(ref) == 0:
        return 0.0, 1.0
    p1, p2 = (ref + 1) / (n1 + 2), (win + 1) / (n2 + 2)
    half = z * np.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
    lo, hi = p2 - p1 - half, p2 - p1 + half
    low = np.maximum(0.0, np.maximum(lo, -hi))
    return float(low.max()), float(np.maximum(np.abs(lo), np.abs(hi)).max())


def sorted_quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """np.quantile's default (linear) method on values already sorted, without a partition."""
    m = len(values)
    if m == 0:
        return []
    h = (m - 1) * np.asarray(qs, float)
    lo = np.floor(h).astype(int)
    hi = np.minimum(lo + 1, m - 1)
    return (values[lo] + (h - lo) * (values[hi] - values[lo])).tolist()


def kolmogorov_sf(d: float, en: float) -> float:
    """P(D > d) for the two-sample statistic with effective size en (Stephens' correction)."""
    lam = (math.sqrt(en) + 0.12 + 0.11 / math.sqrt(en)) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(1.0, max(0.0, total)))


def chi2_sf(x: float, dof: int) -> float:
    """Survival function of the chi-square distribution (regularised upper gamma Q(dof/2, x/2))."""
    if x <= 0:
        return 1.0
    a, z = dof / 2.0, x / 2.0
    if z < a + 1:  # series for the lower function P, then Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1
            term *= z / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return float(max(0.0, 1.0 - total * math.exp(-z + a * math.log(z) - math.lgamma(a))))
    # continued fraction for Q (Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return float(min(1.0, math.exp(-z + a * math.log(z) - math.lgamma(a)) * h))


def chi2_contingency(ref_counts: np.ndarray, win_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test that two samples share one categorical distribution: (statistic, p)."""
    table = np.vstack([ref_counts, win_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    return stat, chi2_sf(stat, table.shape[1] - 1)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two share vectors."""
    p = np.asarray(p, float) / max(float(np.sum(p)), 1e-300)
    q = np.asarray(q, float) / max(float(np.sum(q)), 1e-300)
    m = (p + q) / 2

    def kl(x: np.ndarray, y: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / y[mask])))

    return float(math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2)))


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that two proportions are equal (pooled z-test)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if k1 / n1 == k2 / n2 else 0.0
    z = abs(k1 / n1 - k2 / n2) / se
    return float(math.erfc(z / math.sqrt(2)))


def benjamini_hochberg(p_values: list[float], q: float) -> list[bool]:
    """Which hypotheses are rejected at false-discovery rate q."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values)
    ranked = np.asarray(p_values)[order]
    below = ranked <= q * (np.arange(1, m + 1) / m)
    k = int(np.max(np.flatnonzero(below))) + 1 if below.any() else 0
    rejected = np.zeros(m, dtype=bool)
    rejected[order[:k]] = True
    return rejected.tolist()
