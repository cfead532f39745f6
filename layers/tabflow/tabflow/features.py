"""The feature pipeline shared by training and serving.

One implementation turns columns of values (a pandas column at training time, a list of
JSON values at serving time) into the float matrix the models read. It is serialised as JSON
next to each model, so the API computes exactly what training computed. Pure numpy: the
prediction path must not import pandas or scikit-learn."""

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

SPEC_VERSION = 1


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()  # categorical: code i means categories[i]
    # What the API accepts for this feature (from the contract):
    nullable: bool = True
    required: bool = True  # a request must name it (null allowed when nullable)
    min: float | None = None
    max: float | None = None
    strict: bool = True  # categorical: reject values outside ``categories``


@dataclass(frozen=True)
class FeatureSpec:
    features: tuple[Feature, ...]
    target: str
    positive_label: str
    negative_label: str

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def matrix(self, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
        """Columns of raw values -> float64 matrix (rows x features).

        Numeric: float, missing -> NaN. Categorical: the category's code, missing or unseen ->
        NaN (LightGBM and the linear model both treat NaN as "no information")."""
        n = len(next(iter(columns.values()))) if columns else 0
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for j, feat in enumerate(self.features):
            values = columns[feat.name]
            if feat.kind == "numeric":
                out[:, j] = to_float_array(values)
            else:
                out[:, j] = encode_categories(values, feat.categories)
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SPEC_VERSION,
                "target": self.target,
                "positive_label": self.positive_label,
                "negative_label": self.negative_label,
                "features": [
                    {
                        "name": f.name,
                        "kind": f.kind,
                        "categories": list(f.categories),
                        "nullable": f.nullable,
                        "required": f.required,
                        "min": f.min,
                        "max": f.max,
                        "strict": f.strict,
                    }
                    for f in self.features
                ],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "FeatureSpec":
        data = json.loads(text)
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"unsupported feature spec version {data.get('version')!r}")
        return cls(
            features=tuple(
                Feature(
                    f["name"],
                    f["kind"],
                    tuple(f.get("categories", ())),
                    f.get("nullable", True),
                    f.get("required", True),
                    f.get("min"),
                    f.get("max"),
                    f.get("strict", True),
                )
                for f in data["features"]
            ),
            target=data["target"],
            positive_label=data["positive_label"],
            negative_label=data["negative_label"],
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def to_float_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        return arr.astype(np.float64)
    if arr.dtype.kind == "b":
        return arr.astype(np.float64)
    out = np.empty(len(arr), dtype=np.float64)
    for i, v in enumerate(arr):
        out[i] = _as_float(v)
    return out


def _as_float(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool | np.bool_):
        return 1.0 if v else 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan  # pandas.NA and friends


def encode_categories(values: Sequence[Any] | np.ndarray, categories: Sequence[str]) -> np.ndarray:
    codes = {c: float(i) for i, c in enumerate(categories)}
    nan = math.nan
    return np.fromiter(
        (codes.get(v, nan) if isinstance(v, str) else nan for v in values),
        dtype=np.float64,
        count=len(values),
    )
