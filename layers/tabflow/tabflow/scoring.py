"""Scoring models from their serialised form: LightGBM text or linear-model JSON.

Used by evaluation and by the API alike, so offline and online scores are the same code.
Models are plain text (LightGBM) or JSON (linear): loading a model file can never run code.
No pandas or scikit-learn imports."""

import json
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tabflow.calibration import Calibrator
from tabflow.features import FeatureSpec


class Model(Protocol):
    kind: str

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions (rows x features), in log-odds."""
        ...


class LightGBMModel:
    kind = "lightgbm"

    def __init__(self, model_text: str):
        import lightgbm  # imported here: the linear model must not pay for it

        self._booster = lightgbm.Booster(model_str=model_text)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._booster.predict(x), dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        contrib = np.asarray(self._booster.predict(x, pred_contrib=True))
        return contrib[:, :-1]  # the last column is the expected value

    def importance(self) -> np.ndarray:
        """Total gain per feature."""
        return np.asarray(
            self._booster.feature_importance(importance_type="gain"), dtype=np.float64
        )


@dataclass(frozen=True)
class LinearModel:
    """Logistic regression on a design matrix built from the feature matrix: numeric columns
    imputed with the training mean and standardised; categorical codes one-hot encoded
    (missing or unseen -> all zeros)."""

    means: tuple[float, ...]  # per numeric feature
    scales: tuple[float, ...]
    numeric_coef: tuple[float, ...]
    onehot_coef: tuple[tuple[float, ...], ...]  # per categorical feature, one per category
    intercept: float
    numeric_idx: tuple[int, ...]
    categorical_idx: tuple[int, ...]
    task: str = "binary"  # binary: a probability (sigmoid); regression: the value
    kind: str = "linear"

    def design(self, x: np.ndarray) -> np.ndarray:
        return design_matrix(
            x,
            self.numeric_idx,
            self.categorical_idx,
            self.means,
            self.scales,
            [len(c) for c in self.onehot_coef],
        )

    @property
    def coef(self) -> np.ndarray:
        return np.concatenate(
            [np.asarray(self.numeric_coef)] + [np.asarray(c) for c in self.onehot_coef]
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self.design(x) @ self.coef + self.intercept
        return z if self.task == "regression" else 1.0 / (1.0 + np.exp(-z))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        d = self.design(x) * self.coef
        out = np.zeros_like(x)
        k = len(self.numeric_idx)
        for pos, j in enumerate(self.numeric_idx):
            out[:, j] = d[:, pos]
        for c_pos, j in enumerate(self.categorical_idx):
            width = len(self.onehot_coef[c_pos])
            out[:, j] = d[:, k : k + width].sum(axis=1)
            k += width
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "linear",
                "means": self.means,
                "scales": self.scales,
                "numeric_coef": self.numeric_coef,
                "onehot_coef": self.onehot_coef,
                "intercept": self.intercept,
                "numeric_idx": self.numeric_idx,
                "categorical_idx": self.categorical_idx,
                "task": self.task,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "LinearModel":
        d = json.loads(text)
        if d.get("kind") != "linear":
            raise ValueError("not a linear model document")
        return cls(
            means=tuple(d["means"]),
            scales=tuple(d["scales"]),
            numeric_coef=tuple(d["numeric_coef"]),
            onehot_coef=tuple(tuple(c) for c in d["onehot_coef"]),
            intercept=float(d["intercept"]),
            numeric_idx=tuple(d["numeric_idx"]),
            categorical_idx=tuple(d["categorical_idx"]),
            task=d.get("task", "binary"),
        )


def design_matrix(x, numeric_idx, categorical_idx, means, scales, widths) -> np.ndarray:
    n = x.shape[0]
    parts = []
    if numeric_idx:
        num = x[:, list(numeric_idx)]
        num = np.where(np.isnan(num), np.asarray(means), num)
        parts.append((num - np.asarray(means)) / np.asarray(scales))
    for j, width in zip(categorical_idx, widths, strict=True):
        onehot = np.zeros((n, width))
        codes = x[:, j]
        ok = ~np.isnan(codes)
        onehot[np.flatnonzero(ok), codes[ok].astype(int)] = 1.0
        parts.append(onehot)
    return np.hstack(parts) if parts else np.zeros((n, 0))


class CalibratedModel:
    """A model whose probabilities pass through a calibrator; explanations stay those of the
    underlying model (log-odds contributions)."""

    def __init__(self, model: Model, calibrator: "Calibrator") -> None:
        self.model, self.calibrator, self.kind = model, calibrator, model.kind

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.model.predict(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return self.model.contributions(x)


def load_model(kind: str, payload: str | bytes) -> Model:
    text = payload.decode() if isinstance(payload, bytes) else payload
    if kind == "lightgbm":
        return LightGBMModel(text)
    if kind == "linear":
        return LinearModel.from_json(text)
    raise ValueError(f"unknown model kind {kind!r}")


@dataclass(frozen=True)
class ScoredRows:
    scores: np.ndarray
    labels: list[str | None]
    top_features: list[list[dict]]


def score(
    model: Model, spec: FeatureSpec, x: np.ndarray, *, threshold: float, top_k: int = 3
) -> ScoredRows:
    scores = model.predict(x)
    if spec.task == "regression":
        labels: list[str | None] = [None] * len(scores)
    else:
        labels = [spec.positive_label if s >= threshold else spec.negative_label for s in scores]
    tops: list[list[dict]] = []
    if top_k:
        contrib = model.contributions(x)
        names = spec.names
        order = np.argsort(-np.abs(contrib), axis=1)[:, :top_k]
        for i, row in enumerate(order):
            tops.append(
                [{"feature": names[j], "contribution": round(float(contrib[i, j]), 6)} for j in row]
            )
    return ScoredRows(scores=scores, labels=labels, top_features=tops)
