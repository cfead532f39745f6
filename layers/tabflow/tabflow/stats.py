"""Statistical tests in plain numpy (the monitor function carries no scipy).

They agree with scipy: the KS statistic is identical to scipy.stats.ks_2samp's and its
p-value follows scipy's asymptotic method to within 2e-3 from a thousand rows per sample;
chi2_sf and the contingency test match scipy.stats.chi2.sf and chi2_contingency
(tests/unit/test_stats.py)."""

import math

import numpy as np


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (statistic D, asymptotic two-sided p-value)."""
    a = np.sort(a)
    b = np.sort(b)
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return 0.0, 1.0
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / n
    cdf_b = np.searchsorted(b, grid, side="right") / m
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = n * m / (n + m)
    return d, kolmogorov_sf(d, en)


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
