"""Drift detection quality: quiet on resamples of the reference, loud on real shifts."""

import numpy as np
import pytest

from tabflow.contract import Monitoring
from tabflow.drift import ReferenceProfile, build_reference, check_window, psi
from tabflow.features import Feature, FeatureSpec

SPEC = FeatureSpec(
    (
        Feature("income", "numeric"),
        Feature("age", "numeric"),
        Feature("tenure", "numeric"),
        Feature("plan", "categorical", ("basic", "plus", "pro")),
        Feature("region", "categorical", ("n", "s", "e", "w")),
    ),
    target="y",
    positive_label="1",
    negative_label="0",
)
CFG = Monitoring()
N_REF, N_WINDOW, CHECKS = 50_000, 5_000, 100


def population(rng: np.random.Generator, n: int) -> np.ndarray:
    income = rng.lognormal(10, 0.5, n)
    income[rng.random(n) < 0.05] = np.nan
    age = np.round(rng.normal(45, 12, n))
    tenure = rng.exponential(24, n)
    plan = rng.choice(3, n, p=[0.5, 0.3, 0.2]).astype(float)
    region = rng.choice(4, n, p=[0.25, 0.25, 0.3, 0.2]).astype(float)
    return np.column_stack([income, age, tenure, plan, region])


@pytest.fixture(scope="module")
def reference_rows():
    return population(np.random.default_rng(42), N_REF)


@pytest.fixture(scope="module")
def reference(reference_rows):
    scores = 1 / (1 + np.exp(-(reference_rows[:, 1] - 45) / 12))
    return build_reference(
        SPEC, reference_rows, scores, importance={"income": 0.5, "age": 0.3}, seed=1
    )


def moved(report) -> dict:
    """Features whose tests show drift, used by the model or not (detection, not alerting)."""
    return {c.feature: c for c in report.checks if c.moved}


def alarms(reference, windows) -> int:
    return sum(bool(moved(check_window(reference, SPEC, w, CFG))) for w in windows)


def test_no_drift_replays_rarely_alarm(reference, reference_rows):
    rng = np.random.default_rng(7)
    windows = [reference_rows[rng.integers(0, N_REF, N_WINDOW)] for _ in range(CHECKS)]
    assert alarms(reference, windows) <= 0.05 * CHECKS


def test_large_samples_do_not_alarm_on_trivial_differences(reference, reference_rows):
    window = reference_rows[np.random.default_rng(3).integers(0, N_REF, 200_000)].copy()
    window[:, 1] += 0.02 * 12  # a 0.02 SD shift: statistically visible at 200k rows, irrelevant
    assert moved(check_window(reference, SPEC, window, CFG)) == {}


@pytest.mark.parametrize("feature", [0, 1, 2])
def test_a_quarter_sd_shift_is_detected(reference, reference_rows, feature):
    rng = np.random.default_rng(11 + feature)
    sd = np.nanstd(reference_rows[:, feature])
    windows = []
    for _ in range(CHECKS):
        w = reference_rows[rng.integers(0, N_REF, N_WINDOW)].copy()
        w[:, feature] += 0.25 * sd
        windows.append(w)
    hits = sum(
        SPEC.features[feature].name in moved(check_window(reference, SPEC, w, CFG)) for w in windows
    )
    assert hits >= 0.95 * CHECKS


def test_a_category_share_moved_by_ten_points_is_detected(reference, reference_rows):
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(CHECKS):
        w = reference_rows[rng.integers(0, N_REF, N_WINDOW)].copy()
        basic = np.flatnonzero(w[:, 3] == 0)
        move = rng.choice(basic, int(0.10 * N_WINDOW), replace=False)  # 10 points from basic to pro
        w[move, 3] = 2
        report = check_window(reference, SPEC, w, CFG)
        hits += "plan" in moved(report)
    assert hits >= 0.95 * CHECKS


def test_missing_rate_up_ten_points_is_detected(reference, reference_rows):
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(CHECKS):
        w = reference_rows[rng.integers(0, N_REF, N_WINDOW)].copy()
        w[rng.choice(N_WINDOW, int(0.10 * N_WINDOW), replace=False), 2] = np.nan
        report = check_window(reference, SPEC, w, CFG)
        drifted = moved(report)
        hits += "tenure" in drifted and "missing rate" in drifted["tenure"].how
    assert hits >= 0.95 * CHECKS


def test_unseen_categories_are_reported(reference, reference_rows):
    w = reference_rows[:N_WINDOW].copy()
    unseen = np.zeros(N_WINDOW, dtype=bool)
    unseen[:250] = True  # 5% of values are categories training never saw (encoded as missing)
    w[unseen, 4] = np.nan
    report = check_window(reference, SPEC, w, CFG, unseen={"region": unseen})
    region = moved(report)["region"]
    assert "unseen" in region.how


def test_score_drift_and_importance_floor(reference, reference_rows):
    w = reference_rows[:N_WINDOW].copy()
    w[:, 2] *= 3  # tenure moves, but the model gives it no importance
    scores = np.full(N_WINDOW, 0.9)
    report = check_window(reference, SPEC, w, Monitoring(min_importance=0.1), scores=scores)
    assert "tenure" not in [c.feature for c in report.drifted]
    assert (
        next(c for c in report.features if c.feature == "tenure").tests[0].drifted
    )  # still reported
    assert "score" in [c.feature for c in report.drifted]


def test_reference_round_trips_and_psi_basics(reference):
    assert ReferenceProfile.from_json(reference.to_json()) == reference
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.5, 0.0])) == 0.0
