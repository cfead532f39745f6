"""The numpy learners and metrics against scikit-learn, calibration and threshold rules."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from tabflow.calibration import (
    Calibrator,
    choose_threshold,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
)
from tabflow.evaluation.metrics import average_precision, binary_metrics, expected_calibration_error
from tabflow.solvers import logistic_regression
from tabflow.training import stratified_split

RNG = np.random.default_rng(0)


def test_logistic_regression_matches_scikit_learn():
    x = RNG.normal(size=(2000, 5))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 0.3]) + RNG.normal(size=2000) > 0).astype(float)
    coef, intercept = logistic_regression(x, y, c=0.5)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(x, y)
    np.testing.assert_allclose(coef, ref.coef_[0], atol=1e-5)
    assert intercept == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_average_precision_matches_scikit_learn_with_ties():
    y = RNG.integers(0, 2, 1000)
    s = np.round(RNG.random(1000) + 0.3 * y, 2)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))


def test_stratified_split_keeps_class_shares():
    y = (RNG.random(10_000) < 0.1).astype(int)
    train, test = stratified_split(y, 0.2, seed=1)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(y)
    assert abs(y[test].mean() - y.mean()) < 0.002 and abs(len(test) / len(y) - 0.2) < 0.001


def miscalibrated(n=20_000):
    p = RNG.random(n)
    y = (RNG.random(n) < p).astype(int)
    return p**3, y  # scores far too low: true probability is cube-root of the score


@pytest.mark.parametrize("method", ["platt", "isotonic", "auto"])
def test_calibration_reduces_the_calibration_error(method):
    s, y = miscalibrated()
    cal = fit_calibrator(method, s[:10_000], y[:10_000])
    before = expected_calibration_error(y[10_000:], s[10_000:])
    after = expected_calibration_error(y[10_000:], cal.apply(s[10_000:]))
    assert before > 0.15 and after < 0.05
    again = Calibrator.from_json(cal.to_json())
    np.testing.assert_allclose(again.apply(s[:50]), cal.apply(s[:50]))


def test_isotonic_is_monotone_and_platt_is_smooth():
    s, y = miscalibrated(5000)
    iso = fit_isotonic(s, y).apply(np.linspace(0, 1, 101))
    assert np.all(np.diff(iso) >= -1e-12)
    platt = fit_platt(s, y)
    assert platt.a > 0


def test_threshold_rules():
    s = RNG.random(5000)
    y = (RNG.random(5000) < s).astype(int)
    t_cost, why = choose_threshold(s, y, {"false_positive_cost": 1.0, "false_negative_cost": 9.0})
    assert t_cost < 0.2 and "cost" in why  # missing a positive is 9x worse: flag early
    t_recall, _ = choose_threshold(s, y, {"min_recall": 0.9})
    assert binary_metrics(y, s, threshold=t_recall)["recall"] >= 0.9
    t_precision, _ = choose_threshold(s, y, {"min_precision": 0.8})
    assert binary_metrics(y, s, threshold=t_precision)["precision"] >= 0.8
    assert choose_threshold(s, y, 0.42) == (0.42, "fixed at 0.42")
