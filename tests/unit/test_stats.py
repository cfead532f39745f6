"""Our numpy statistics against scipy's (scipy is a test-only dependency here)."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from tabflow import stats as ours
from tabflow.evaluation.metrics import roc_auc

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("n", "m", "shift"), [(50, 80, 0.0), (2000, 5000, 0.05), (5000, 3000, 0.3), (300, 300, 1.0)]
)
def test_ks_matches_scipy(n, m, shift):
    a, b = RNG.normal(0, 1, n), RNG.normal(shift, 1, m)
    d, p = ours.ks_2samp(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    # scipy's asymptotic p uses the exact one-sample law at n = round(en); ours, Stephens'
    # approximation of it: identical statistics, p-values within 2e-3 from a thousand rows.
    assert p == pytest.approx(ref.pvalue, abs=2e-3 if min(n, m) >= 1000 else 3e-2)


def test_ks_with_ties_matches_scipy():
    a, b = RNG.integers(0, 10, 3000).astype(float), RNG.integers(0, 11, 2000).astype(float)
    assert ours.ks_2samp(a, b)[0] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "dof"), [(0.5, 1), (3.0, 2), (10.0, 4), (40.0, 9), (200.0, 30), (1e-3, 5)]
)
def test_chi2_sf_matches_scipy(x, dof):
    assert ours.chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-15)


def test_contingency_matches_scipy():
    ref, win = np.array([500, 300, 200, 0]), np.array([40, 45, 15, 0])
    stat, p = ours.chi2_contingency(ref, win)
    expected = stats.chi2_contingency(np.vstack([ref[:3], win[:3]]), correction=False)
    assert stat == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


def test_jensen_shannon_matches_scipy():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.6, 0.2, 0.2])
    assert ours.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2))


def test_benjamini_hochberg():
    assert ours.benjamini_hochberg([0.001, 0.04, 0.03, 0.5], 0.05) == [True, False, False, False]
    assert ours.benjamini_hochberg([0.01, 0.02, 0.03, 0.04], 0.05) == [True, True, True, True]


def test_auc_matches_sklearn_with_ties():
    y = RNG.integers(0, 2, 500)
    s = np.round(RNG.random(500) + y * 0.3, 1)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert roc_auc(np.ones(5), s[:5]) is None
