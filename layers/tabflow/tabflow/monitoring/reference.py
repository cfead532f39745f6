"""Reference profiles: computed at training time from what the model serves, stored with the
model, read by the drift check (drift.py) so that a check never reloads training data.

A profile holds binned counts, category frequencies, missing counts, quantiles and a small
raw sample per feature (for an exact KS statistic). The score profile describes the served
outputs: the score's distribution (binary, regression) or, for a multiclass model, the shares
of the predicted class (``score``, categorical over the model's classes) and each class's
probability (``class_scores``, one numeric profile per class named ``score:<class>``)."""

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tabflow.features import FeatureSpec

QUANTILES = np.linspace(0.1, 0.9, 9)
REPORT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
SAMPLE = 5000
CLASS_SAMPLES = 10 * SAMPLE  # raw probabilities kept over all classes (a bounded profile)


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
        """Shares of the observed values per bin or category (missing values excluded: the
        missing rate is a test of its own, and a missing bin would dominate PSI)."""
        counts = np.asarray(self.counts, float)
        return counts / max(float(counts.sum()), 1.0)


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    features: tuple[FeatureProfile, ...]
    score: FeatureProfile | None = None  # multiclass: the predicted class shares (categorical)
    class_scores: tuple[FeatureProfile, ...] = ()  # multiclass: each class's probability

    @property
    def multiclass(self) -> bool:
        return self.score is not None and self.score.kind == "categorical"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "ReferenceProfile":
        d = json.loads(text)
        return cls(
            rows=d["rows"],
            features=tuple(_profile(f) for f in d["features"]),
            score=_profile(d["score"]) if d.get("score") else None,
            class_scores=tuple(_profile(f) for f in d.get("class_scores") or ()),
        )


def _profile(x: dict[str, Any]) -> FeatureProfile:
    edges, counts, sample, quantiles = (
        tuple(x.get(k, ())) for k in ("edges", "counts", "sample", "quantiles")
    )
    head = (x["name"], x["kind"], edges, counts, x["missing"], x["rows"])
    return FeatureProfile(*head, sample, quantiles, x.get("importance", 0.0))


def bin_counts(present: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Counts per bin (bin i holds edges[i-1] < x <= edges[i]) of SORTED values."""
    cum = np.searchsorted(present, np.asarray(edges, float), side="right")
    return np.diff(np.concatenate([[0], cum, [len(present)]]))


def numeric_profile(
    name: str,
    col: np.ndarray,
    rng: np.random.Generator,
    importance: float = 0.0,
    sample_size: int = SAMPLE,
) -> FeatureProfile:
    present = np.sort(col[~np.isnan(col)])
    edges = (
        tuple(float(e) for e in np.unique(np.quantile(present, QUANTILES))) if len(present) else ()
    )
    sample = (
        rng.choice(present, size=min(sample_size, len(present)), replace=False)
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
        tuple(int(c) for c in bin_counts(present, edges)),
        int(np.isnan(col).sum()),
        len(col),
        tuple(float(v) for v in sample),
        quantiles,
        importance,
    )


def categorical_profile(
    name: str, col: np.ndarray, categories: int, importance: float = 0.0
) -> FeatureProfile:
    """Counts per category code (``col``: float codes, NaN when missing)."""
    present = col[~np.isnan(col)].astype(int)
    counts = np.bincount(present, minlength=categories)[:categories]
    return FeatureProfile(
        name,
        "categorical",
        (),
        tuple(int(c) for c in counts),
        int(np.isnan(col).sum()),
        len(col),
        importance=importance,
    )


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """The most probable class of each row as a float code (NaN where a row has no complete
    probabilities): what a multiclass model answers as its label."""
    p = np.asarray(probabilities, float)
    out = np.full(len(p), np.nan)
    complete = ~np.isnan(p).any(axis=1) if p.size else np.zeros(len(p), bool)
    if complete.any():
        out[complete] = p[complete].argmax(axis=1)
    return out


def class_score_name(label: str) -> str:
    return f"score:{label}"


def build_reference(
    spec: FeatureSpec,
    x: np.ndarray,
    scores: np.ndarray | None = None,
    importance: dict[str, float] | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    """``scores``: what the model serves for the rows of ``x``; a multiclass model's
    probabilities (rows x classes, the order of ``spec.classes``) give the predicted class
    shares and one profile per class's probability."""
    rng = np.random.default_rng(seed)
    importance = importance or {}
    profiles = []
    for j, feat in enumerate(spec.features):
        weight = importance.get(feat.name, 0.0)
        if feat.kind == "categorical":
            profiles.append(categorical_profile(feat.name, x[:, j], len(feat.categories), weight))
        else:
            profiles.append(numeric_profile(feat.name, x[:, j], rng, weight))
    rows = int(x.shape[0])
    if scores is None:
        return ReferenceProfile(rows, tuple(profiles))
    scores = np.asarray(scores, float)
    if scores.ndim == 1:
        return ReferenceProfile(rows, tuple(profiles), numeric_profile("score", scores, rng))
    k = scores.shape[1]
    labels = list(spec.classes) if len(spec.classes) == k else [str(c) for c in range(k)]
    size = min(SAMPLE, max(1000, CLASS_SAMPLES // k))
    return ReferenceProfile(
        rows,
        tuple(profiles),
        categorical_profile("score", predicted_classes(scores), k),
        tuple(
            numeric_profile(class_score_name(c), scores[:, i], rng, sample_size=size)
            for i, c in enumerate(labels)
        ),
    )
