"""Reference profiles (computed at training time, stored with the model) and the drift check.

A profile holds binned counts, category frequencies, missing counts, quantiles and a small
raw sample per feature (for an exact KS statistic), so a drift check never reloads training
data. The check is sample-size aware: every test's p-value goes through Benjamini-Hochberg
across the window, and a feature drifts only when a rejected test also shows an effect above
its threshold. Pure numpy (stats.py)."""

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tabflow import stats
from tabflow.contract import Monitoring
from tabflow.features import FeatureSpec

QUANTILES = np.linspace(0.1, 0.9, 9)
REPORT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SAMPLE = 5000
EPS = 1e-4


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    kind: str  # numeric | categorical
    edges: tuple[float, ...]  # numeric: inner decile edges; categorical: empty
    counts: tuple[int, ...]  # per bin (numeric) or per category code, missing excluded
    missing: int
    rows: int
    sample: tuple[float, ...] = ()  # numeric: raw values (at most SAMPLE) for KS
    quantiles: tuple[float, ...] = ()
    importance: float = 0.0  # share of the model's total gain

    @property
    def shares(self) -> np.ndarray:
        """Bins plus a last "missing" bin, as shares of all rows (what PSI compares)."""
        return np.append(np.asarray(self.counts, float), self.missing) / max(self.rows, 1)


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    features: tuple[FeatureProfile, ...]
    score: FeatureProfile | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "ReferenceProfile":
        d = json.loads(text)

        def fp(x: dict) -> FeatureProfile:
            return FeatureProfile(
                x["name"],
                x["kind"],
                tuple(x["edges"]),
                tuple(x["counts"]),
                x["missing"],
                x["rows"],
                tuple(x.get("sample", ())),
                tuple(x.get("quantiles", ())),
                x.get("importance", 0.0),
            )

        return cls(
            rows=d["rows"],
            features=tuple(fp(f) for f in d["features"]),
            score=fp(d["score"]) if d.get("score") else None,
        )


def _numeric_profile(
    name: str, col: np.ndarray, rng: np.random.Generator, importance: float = 0.0
) -> FeatureProfile:
    present = col[~np.isnan(col)]
    edges = (
        tuple(float(e) for e in np.unique(np.quantile(present, QUANTILES))) if len(present) else ()
    )
    sample = (
        rng.choice(present, size=min(SAMPLE, len(present)), replace=False)
        if len(present)
        else present
    )
    quantiles = (
        tuple(float(q) for q in np.quantile(present, REPORT_QUANTILES)) if len(present) else ()
    )
    return FeatureProfile(
        name,
        "numeric",
        edges,
        tuple(int(c) for c in _bin_counts(present, edges)),
        int(np.isnan(col).sum()),
        len(col),
        tuple(float(v) for v in sample),
        quantiles,
        importance,
    )


def build_reference(
    spec: FeatureSpec,
    x: np.ndarray,
    scores: np.ndarray | None = None,
    importance: dict[str, float] | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    importance = importance or {}
    profiles = []
    for j, feat in enumerate(spec.features):
        col = x[:, j]
        if feat.kind == "categorical":
            present = col[~np.isnan(col)].astype(int)
            counts = np.bincount(present, minlength=len(feat.categories))[: len(feat.categories)]
            profiles.append(
                FeatureProfile(
                    feat.name,
                    "categorical",
                    (),
                    tuple(int(c) for c in counts),
                    int(np.isnan(col).sum()),
                    len(col),
                    importance=importance.get(feat.name, 0.0),
                )
            )
        else:
            profiles.append(_numeric_profile(feat.name, col, rng, importance.get(feat.name, 0.0)))
    score = (
        _numeric_profile("score", np.asarray(scores, float), rng) if scores is not None else None
    )
    return ReferenceProfile(rows=int(x.shape[0]), features=tuple(profiles), score=score)


def _bin_counts(present: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    return np.bincount(
        np.searchsorted(np.asarray(edges, float), present, side="left"), minlength=len(edges) + 1
    )


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
    effect: float
    threshold: float
    rejected: bool = False  # by Benjamini-Hochberg across the window

    @property
    def drifted(self) -> bool:
        return self.rejected and self.effect >= self.threshold


@dataclass
class FeatureCheck:
    feature: str
    kind: str
    rows: int
    psi: float
    tests: list[TestResult]
    importance: float = 0.0
    eligible: bool = True  # False: below the importance floor, reported but never alerts
    reference: dict[str, Any] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return self.eligible and any(t.drifted for t in self.tests)

    @property
    def how(self) -> str:
        moved = [t for t in self.tests if t.drifted]
        return "; ".join(_describe(t, self) for t in moved) if moved else ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(drifted=self.drifted, how=self.how)
        for t, d in zip(self.tests, out["tests"], strict=True):
            d["drifted"] = t.drifted
        return out


def _describe(t: TestResult, f: FeatureCheck) -> str:
    if t.test == "ks":
        ref, now = f.reference.get("median"), f.window.get("median")
        return (
            f"distribution moved (KS {t.statistic:.3f}, PSI {f.psi:.3f}; median {ref:.4g} -> {now:.4g})"
            if (ref is not None and now is not None)
            else f"distribution moved (KS {t.statistic:.3f})"
        )
    if t.test == "chi2":
        return f"category shares moved by up to {t.effect:.1%} (JS {f.window.get('js', 0):.3f})"
    if t.test == "missing":
        return f"missing rate {f.reference['missing_rate']:.1%} -> {f.window['missing_rate']:.1%}"
    return f"{t.effect:.1%} unseen categories"


@dataclass
class DriftReport:
    rows: int
    features: list[FeatureCheck]
    score: FeatureCheck | None

    @property
    def drifted(self) -> list[FeatureCheck]:
        checks = self.features + ([self.score] if self.score else [])
        return sorted((c for c in checks if c.drifted), key=lambda c: -c.psi)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "drifted": [c.feature for c in self.drifted],
            "features": [c.to_dict() for c in self.features],
            "score": self.score.to_dict() if self.score else None,
        }


def check_window(
    reference: ReferenceProfile,
    spec: FeatureSpec,
    x: np.ndarray,
    cfg: Monitoring,
    *,
    unseen: dict[str, np.ndarray] | None = None,
    scores: np.ndarray | None = None,
) -> DriftReport:
    """Compare a window (feature matrix; ``unseen`` marks categorical values outside the known
    categories, which the matrix encodes as missing) with the training reference."""
    unseen = unseen or {}
    n = int(x.shape[0])
    checks: list[FeatureCheck] = []
    for j, profile in enumerate(reference.features):
        col = x[:, j]
        if profile.kind == "numeric":
            checks.append(_numeric_check(profile, col, cfg))
        else:
            checks.append(_categorical_check(profile, col, unseen.get(profile.name), cfg))
        checks[-1].eligible = profile.importance >= cfg.min_importance
    score_check = None
    if scores is not None and reference.score is not None:
        score_check = _numeric_check(reference.score, np.asarray(scores, float), cfg)
    every = [t for c in checks + ([score_check] if score_check else []) for t in c.tests]
    for t, rejected in zip(
        every, stats.benjamini_hochberg([t.p_value for t in every], cfg.fdr), strict=True
    ):
        t.rejected = rejected
    return DriftReport(n, checks, score_check)


def _missing_test(profile: FeatureProfile, missing_now: int, n: int, cfg: Monitoring) -> TestResult:
    ref_rate, now_rate = profile.missing / max(profile.rows, 1), missing_now / max(n, 1)
    p = stats.two_proportion_p(profile.missing, profile.rows, missing_now, n)
    return TestResult(
        "missing", now_rate - ref_rate, p, abs(now_rate - ref_rate), cfg.missing_threshold
    )


def _numeric_check(profile: FeatureProfile, col: np.ndarray, cfg: Monitoring) -> FeatureCheck:
    n = len(col)
    missing = np.isnan(col)
    present = col[~missing]
    shares = np.append(_bin_counts(present, profile.edges), missing.sum()) / max(n, 1)
    value_psi = psi(profile.shares, shares)
    d, p = stats.ks_2samp(np.asarray(profile.sample), present)
    # Either a KS distance or a PSI above its threshold counts as a large enough change.
    effect = max(d, cfg.ks_threshold if value_psi >= cfg.psi_threshold else 0.0)
    tests = [
        TestResult("ks", d, p, effect, cfg.ks_threshold),
        _missing_test(profile, int(missing.sum()), n, cfg),
    ]
    window_q = np.quantile(present, REPORT_QUANTILES).tolist() if len(present) else []
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
            "missing_rate": float(missing.mean()) if n else 0.0,
        },
    )


def _categorical_check(
    profile: FeatureProfile, col: np.ndarray, unseen: np.ndarray | None, cfg: Monitoring
) -> FeatureCheck:
    n = len(col)
    unseen = np.zeros(n, dtype=bool) if unseen is None else unseen
    missing = np.isnan(col) & ~unseen
    known = col[~np.isnan(col)].astype(int)
    counts = np.bincount(known, minlength=len(profile.counts))[: len(profile.counts)]
    ref_counts = np.asarray(profile.counts, float)
    ref_shares = ref_counts / max(ref_counts.sum(), 1)
    now_shares = counts / max(counts.sum(), 1)
    chi2, p = stats.chi2_contingency(ref_counts, counts)
    change = float(np.max(np.abs(now_shares - ref_shares))) if counts.sum() else 0.0
    js = stats.jensen_shannon(ref_shares, now_shares) if counts.sum() else 0.0
    all_shares = np.append(counts, missing.sum() + unseen.sum()) / max(n, 1)
    n_unseen = int(unseen.sum())
    tests = [
        TestResult("chi2", chi2, p, change, cfg.share_threshold),
        _missing_test(profile, int(missing.sum()), n, cfg),
        TestResult(
            "unseen",
            n_unseen,
            stats.two_proportion_p(0, profile.rows, n_unseen, n) if n_unseen else 1.0,
            n_unseen / max(n, 1),
            cfg.unseen_threshold,
        ),
    ]
    return FeatureCheck(
        profile.name,
        "categorical",
        n,
        round(psi(profile.shares, all_shares), 6),
        tests,
        profile.importance,
        reference={
            "shares": ref_shares.round(4).tolist(),
            "missing_rate": profile.missing / max(profile.rows, 1),
        },
        window={
            "shares": now_shares.round(4).tolist(),
            "missing_rate": float(missing.mean()) if n else 0.0,
            "unseen_rate": n_unseen / max(n, 1),
            "js": round(js, 6),
        },
    )
