"""Reference profiles (computed at training time, stored with the model) and drift statistics.

A profile holds binned shares per feature, so a drift check never reloads training data.
Pure numpy: runs inside the monitor function on large windows."""

import json
from dataclasses import asdict, dataclass

import numpy as np

from tabflow.features import FeatureSpec

QUANTILES = np.linspace(0.1, 0.9, 9)
EPS = 1e-4


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    kind: str  # numeric | categorical
    edges: tuple[float, ...]  # numeric: inner bin edges; categorical: empty
    shares: tuple[float, ...]  # per bin (numeric) or per category code; last = missing/unseen


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
            return FeatureProfile(x["name"], x["kind"], tuple(x["edges"]), tuple(x["shares"]))

        return cls(
            rows=d["rows"],
            features=tuple(fp(f) for f in d["features"]),
            score=fp(d["score"]) if d.get("score") else None,
        )


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    drifted: bool
    rows: int


def build_reference(
    spec: FeatureSpec, x: np.ndarray, scores: np.ndarray | None = None
) -> ReferenceProfile:
    profiles = []
    for j, feat in enumerate(spec.features):
        col = x[:, j]
        if feat.kind == "numeric":
            present = col[~np.isnan(col)]
            edges = tuple(np.unique(np.quantile(present, QUANTILES))) if len(present) else ()
            profiles.append(
                FeatureProfile(
                    feat.name,
                    "numeric",
                    tuple(map(float, edges)),
                    tuple(_numeric_shares(col, edges)),
                )
            )
        else:
            profiles.append(
                FeatureProfile(
                    feat.name,
                    "categorical",
                    (),
                    tuple(_categorical_shares(col, len(feat.categories))),
                )
            )
    score_profile = None
    if scores is not None:
        edges = tuple(float(e) for e in np.unique(np.quantile(scores, QUANTILES)))
        score_profile = FeatureProfile(
            "score", "numeric", edges, tuple(_numeric_shares(scores, edges))
        )
    return ReferenceProfile(rows=int(x.shape[0]), features=tuple(profiles), score=score_profile)


def shares_for(profile: FeatureProfile, col: np.ndarray) -> np.ndarray:
    if profile.kind == "numeric":
        return _numeric_shares(col, profile.edges)
    return _categorical_shares(col, len(profile.shares) - 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index; shares are floored at EPS so empty bins stay finite."""
    e = np.maximum(np.asarray(expected, dtype=float), EPS)
    a = np.maximum(np.asarray(actual, dtype=float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(reference: ReferenceProfile, x: np.ndarray, *, threshold: float) -> list[FeatureDrift]:
    out = []
    for j, profile in enumerate(reference.features):
        value = psi(np.asarray(profile.shares), shares_for(profile, x[:, j]))
        out.append(FeatureDrift(profile.name, round(value, 6), value > threshold, int(x.shape[0])))
    return out


def _numeric_shares(col: np.ndarray, edges) -> np.ndarray:
    n = len(col)
    missing = np.isnan(col)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), col[~missing], side="left"),
        minlength=len(edges) + 1,
    ).astype(float)
    shares = np.append(counts, missing.sum())
    return shares / n if n else shares


def _categorical_shares(col: np.ndarray, n_categories: int) -> np.ndarray:
    n = len(col)
    missing = np.isnan(col)
    counts = np.bincount(col[~missing].astype(int), minlength=n_categories).astype(float)
    shares = np.append(counts[:n_categories], missing.sum())
    return shares / n if n else shares
