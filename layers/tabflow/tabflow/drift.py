"""The drift check of a window against the training reference (reference profiles:
monitoring/reference.py, re-exported here).

The check is sample-size aware: every test's p-value goes through Benjamini-Hochberg across
the window, and each test gives its effect with a confidence interval (low, high). A test
shows drift when it is rejected and its LOWER bound passes the threshold; it shows that the
change is gone when its UPPER bound falls below (the monitor's hysteresis,
monitoring/alerts.py). PSI and KS describe the observed values only; the missing rate is a
test of its own. The served score is checked like a numeric feature; a multiclass model's
predicted class shares like a categorical feature (``score``) and each class's probability
like a numeric one (``score:<class>``). Pure numpy (stats.py)."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from tabflow import stats
from tabflow.contract import Monitoring
from tabflow.features import FeatureSpec
from tabflow.monitoring.reference import (  # re-exported: the profiles are drift's inputs
    QUANTILES,
    REPORT_QUANTILES,
    SAMPLE,
    FeatureProfile,
    ReferenceProfile,
    build_reference,
    predicted_classes,
)
from tabflow.monitoring.reference import bin_counts as _bin_counts

__all__ = [
    "QUANTILES",
    "REPORT_QUANTILES",
    "SAMPLE",
    "DriftReport",
    "FeatureCheck",
    "FeatureProfile",
    "ReferenceProfile",
    "TestResult",
    "build_reference",
    "check_window",
    "psi",
]

EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index; shares are floored at EPS so empty bins stay finite."""
    e = np.maximum(np.asarray(expected, dtype=float), EPS)
    a = np.maximum(np.asarray(actual, dtype=float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class TestResult:
    test: str  # ks | chi2 | missing | unseen
    statistic: float
    p_value: float
    effect: float  # the size of the change, on the scale of ``threshold``
    threshold: float
    low: float = 0.0  # confidence bounds of the effect (monitoring.confidence)
    high: float = 0.0
    rejected: bool = False  # by Benjamini-Hochberg across the window

    @property
    def drifted(self) -> bool:
        """This window shows the change: significant, and surely above the threshold."""
        return self.rejected and self.low >= self.threshold

    @property
    def settled(self) -> bool:
        """This window shows the change is (back) below the threshold."""
        return self.high < self.threshold


@dataclass
class FeatureCheck:
    feature: str
    kind: str
    rows: int
    psi: float  # of the observed values
    tests: list[TestResult]
    importance: float = 0.0
    eligible: bool = True  # False: unused or below the importance floor; reported, never alerts
    reference: dict[str, Any] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)
    # Tests in the drift state: those that show drift in this window, plus (with the monitor's
    # state) those that entered earlier and have not settled since.
    active: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return bool(self.active)

    @property
    def drifted(self) -> bool:
        return self.eligible and self.moved

    @property
    def how(self) -> str:
        return "; ".join(_describe(t, self) for t in self.tests if t.test in self.active)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(drifted=self.drifted, moved=self.moved, how=self.how)
        for t, d in zip(self.tests, out["tests"], strict=True):
            d["drifted"] = t.test in self.active
            d["shows_drift"], d["settled"] = t.drifted, t.settled
        return out


def _pp(x: float) -> str:
    return f"{x * 100:+.1f} percentage points"


def _describe(t: TestResult, f: FeatureCheck) -> str:
    """One line a person can act on: what moved, from what to what, by how much."""
    if t.test == "ks":
        ref, now = f.reference.get("median"), f.window.get("median")
        return (
            f"distribution moved (KS {t.statistic:.3f}, PSI {f.psi:.3f}; median {ref:.4g} -> {now:.4g})"
            if (ref is not None and now is not None)
            else f"distribution moved (KS {t.statistic:.3f})"
        )
    if t.test == "chi2":
        ref, now = f.reference.get("shares") or [], f.window.get("shares") or []
        labels = f.reference.get("labels") or [str(i) for i in range(len(ref))]
        diff = np.subtract(now, ref) if len(ref) == len(now) else np.zeros(0)
        largest = [int(i) for i in np.argsort(-np.abs(diff))[:3]]  # up to 3 that moved most
        moved = [i for i in largest if abs(diff[i]) >= t.threshold / 2] or largest[:1]
        parts = [f"{labels[i]!r} {ref[i]:.1%} -> {now[i]:.1%} ({_pp(diff[i])})" for i in moved]
        what = "predicted class shares" if f.feature == "score" else "category shares"
        return f"{what} moved: " + ", ".join(parts)
    if t.test == "missing":
        ref, now = f.reference["missing_rate"], f.window["missing_rate"]
        return f"missing rate {ref:.1%} -> {now:.1%} ({_pp(now - ref)})"
    return f"{t.effect:.1%} unseen categories, values training never saw ({_pp(t.effect)})"


@dataclass
class DriftReport:
    rows: int
    features: list[FeatureCheck]
    score: FeatureCheck | None  # multiclass: the predicted class shares
    class_scores: list[FeatureCheck] = field(default_factory=list)  # multiclass, per class

    @property
    def checks(self) -> list[FeatureCheck]:
        return self.features + ([self.score] if self.score else []) + self.class_scores

    @property
    def drifted(self) -> list[FeatureCheck]:
        """Features in drift that may alert (eligible), largest PSI first."""
        return sorted((c for c in self.checks if c.drifted), key=lambda c: -c.psi)

    @property
    def unused_moved(self) -> list[FeatureCheck]:
        """Features in drift that do not alert (the model does not use them)."""
        return [c for c in self.checks if c.moved and not c.eligible]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "drifted": [c.feature for c in self.drifted],
            "moved_unused": [c.feature for c in self.unused_moved],
            "showing": [c.feature for c in self.checks if any(t.drifted for t in c.tests)],
            "features": [c.to_dict() for c in self.features],
            "score": self.score.to_dict() if self.score else None,
            "class_scores": [c.to_dict() for c in self.class_scores],
        }


def check_window(
    reference: ReferenceProfile,
    spec: FeatureSpec,
    x: np.ndarray | Sequence[np.ndarray],
    cfg: Monitoring,
    *,
    unseen: dict[str, np.ndarray] | None = None,
    scores: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
) -> DriftReport:
    """Compare a window with the training reference. ``x``: the feature matrix (rows x
    features) or its columns; ``unseen`` marks categorical values outside the known
    categories, which the matrix encodes as missing. ``scores``: the served scores;
    ``probabilities``: a multiclass model's (rows x classes, NaN rows where a prediction
    has none), checked as the predicted class shares and each class's probability."""
    unseen = unseen or {}
    columns = list(x.T) if isinstance(x, np.ndarray) else list(x)
    n = len(columns[0]) if columns else 0
    # Importance unknown (no feature has any): every feature counts as used.
    known_importance = any(p.importance > 0 for p in reference.features)
    checks: list[FeatureCheck] = []
    for profile, col in zip(reference.features, columns, strict=True):
        if profile.kind == "numeric":
            checks.append(_numeric_check(profile, col, cfg))
        else:
            checks.append(_categorical_check(profile, col, unseen.get(profile.name), cfg))
        used = profile.importance > 0 or not known_importance or cfg.alert_on_unused_features
        checks[-1].eligible = used and profile.importance >= cfg.min_importance
    score_check, class_checks = None, []
    if reference.multiclass and probabilities is not None:
        p = np.asarray(probabilities, float)
        if p.shape[1:] != (len(reference.class_scores),):
            raise ValueError(
                f"probabilities of {p.shape[1:]} classes for a reference of "
                f"{len(reference.class_scores)}"
            )
        assert reference.score is not None
        score_check = _categorical_check(reference.score, predicted_classes(p), None, cfg)
        class_checks = [
            _numeric_check(profile, p[:, k], cfg)
            for k, profile in enumerate(reference.class_scores)
        ]
    elif scores is not None and reference.score is not None and not reference.multiclass:
        score_check = _numeric_check(reference.score, np.asarray(scores, float), cfg)
    report = DriftReport(n, checks, score_check, class_checks)
    every = [t for c in report.checks for t in c.tests]
    for t, rejected in zip(
        every, stats.benjamini_hochberg([t.p_value for t in every], cfg.fdr), strict=True
    ):
        t.rejected = rejected
    for c in report.checks:
        c.active = [t.test for t in c.tests if t.drifted]
    return report


def _proportion_test(
    name: str, k1: int, n1: int, k2: int, n2: int, threshold: float, cfg: Monitoring
) -> TestResult:
    """Change of a rate (reference k1/n1 -> window k2/n2): a two-proportion test, and the
    change in points with an Agresti-Caffo interval (sound near 0 and for small windows)."""
    p = stats.two_proportion_p(k1, n1, k2, n2)
    low, high = stats.rate_change_interval(k1, n1, k2, n2, NormalDist().inv_cdf(cfg.confidence))
    change = k2 / max(n2, 1) - k1 / max(n1, 1)
    return TestResult(name, change, p, abs(change), threshold, low, high)


def _numeric_check(profile: FeatureProfile, col: np.ndarray, cfg: Monitoring) -> FeatureCheck:
    n = len(col)
    missing = np.isnan(col)
    n_missing = int(missing.sum())
    present = np.sort(col[~missing] if n_missing else col)  # one sort serves every statistic
    m = len(present)
    value_psi = psi(profile.shares, _bin_counts(present, profile.edges) / max(m, 1))
    sample = np.sort(np.asarray(profile.sample, float))
    d, p = stats.ks_2samp(sample, present, presorted=True)
    low, high = stats.ks_interval(d, len(sample), m, cfg.confidence)
    tests = [
        TestResult("ks", d, p, d, cfg.ks_threshold, low, high),
        _proportion_test(
            "missing", profile.missing, profile.rows, n_missing, n, cfg.missing_threshold, cfg
        ),
    ]
    window_q = stats.sorted_quantiles(present, REPORT_QUANTILES)
    return FeatureCheck(
        profile.name,
        "numeric",
        n,
        round(value_psi, 6),
        tests,
        profile.importance,
        reference={
            "median": profile.quantiles[2] if profile.quantiles else None,
            "quantiles": list(profile.quantiles),
            "missing_rate": profile.missing / max(profile.rows, 1),
        },
        window={
            "median": window_q[2] if window_q else None,
            "quantiles": window_q,
            "missing_rate": n_missing / n if n else 0.0,
        },
    )


def _categorical_check(
    profile: FeatureProfile, col: np.ndarray, unseen: np.ndarray | None, cfg: Monitoring
) -> FeatureCheck:
    n = len(col)
    absent = np.isnan(col)
    n_unseen = int(unseen.sum()) if unseen is not None else 0
    n_missing = int(absent.sum()) - n_unseen
    k = len(profile.counts)
    counts = np.bincount(col[~absent].astype(np.intp), minlength=k)[:k]
    ref_counts = np.asarray(profile.counts, float)
    ref_shares, now_shares = profile.shares, counts / max(int(counts.sum()), 1)
    chi2, p = stats.chi2_contingency(ref_counts, counts)
    low, high = stats.share_change_interval(
        ref_counts, counts, NormalDist().inv_cdf(cfg.confidence)
    )
    change = float(np.max(np.abs(now_shares - ref_shares))) if counts.sum() else 0.0
    js = stats.jensen_shannon(ref_shares, now_shares) if counts.sum() else 0.0
    unseen_test = _proportion_test(
        "unseen", 0, profile.rows, n_unseen, n, cfg.unseen_threshold, cfg
    )
    if not n_unseen:
        unseen_test.p_value = 1.0
    tests = [
        TestResult("chi2", chi2, p, change, cfg.share_threshold, low, high),
        _proportion_test(
            "missing", profile.missing, profile.rows, n_missing, n, cfg.missing_threshold, cfg
        ),
        unseen_test,
    ]
    return FeatureCheck(
        profile.name,
        "categorical",
        n,
        round(psi(ref_shares, now_shares), 6),
        tests,
        profile.importance,
        reference={
            "shares": ref_shares.round(4).tolist(),
            "missing_rate": profile.missing / max(profile.rows, 1),
        },
        window={
            "shares": now_shares.round(4).tolist(),
            "missing_rate": n_missing / n if n else 0.0,
            "unseen_rate": n_unseen / max(n, 1),
            "js": round(js, 6),
        },
    )
