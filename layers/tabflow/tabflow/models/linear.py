"""The linear candidate: logistic regression (multinomial for multiclass, ridge for a
regression) on a design matrix of
standardised numeric columns and one-hot categories, saved as JSON. A baseline the chosen
model must beat, and sometimes the winner: on some tabular data it matches LightGBM."""

import json
from dataclasses import dataclass

import numpy as np

from tabflow.features import FeatureSpec
from tabflow.models.base import Candidate, Fitted, Model, TrainingRows
from tabflow.solvers import logistic_regression, ridge_regression, softmax_regression

# The baseline learns from at most LINEAR_ROWS rows: a linear model has few parameters, and
# past that size more rows only cost time.
LINEAR_ROWS = 100_000


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
    # multiclass: one coefficient row (over the design columns) and intercept per class;
    # ``widths`` gives the one-hot widths (numeric_coef and onehot_coef are then empty)
    class_coef: tuple[tuple[float, ...], ...] = ()
    class_intercepts: tuple[float, ...] = ()
    widths: tuple[int, ...] = ()
    kind: str = "linear"

    def design(self, x: np.ndarray) -> np.ndarray:
        return design_matrix(
            x,
            self.numeric_idx,
            self.categorical_idx,
            self.means,
            self.scales,
            self.widths or [len(c) for c in self.onehot_coef],
        )

    @property
    def coef(self) -> np.ndarray:
        return np.concatenate(
            [np.asarray(self.numeric_coef)] + [np.asarray(c) for c in self.onehot_coef]
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.task == "multiclass":  # rows x classes probabilities (softmax)
            z = self.design(x) @ np.asarray(self.class_coef).T + np.asarray(self.class_intercepts)
            z = np.exp(z - z.max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)
        z = self.design(x) @ self.coef + self.intercept
        return z if self.task == "regression" else 1.0 / (1.0 + np.exp(-z))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's term of the linear score (multiclass: of each row's most probable
        class), one-hot terms summed per categorical feature."""
        design = self.design(x)
        if self.task == "multiclass":
            chosen = self.predict(x).argmax(axis=1)
            d = design * np.asarray(self.class_coef)[chosen]
        else:
            d = design * self.coef
        out = np.zeros_like(x)
        k = len(self.numeric_idx)
        for pos, j in enumerate(self.numeric_idx):
            out[:, j] = d[:, pos]
        for c_pos, j in enumerate(self.categorical_idx):
            width = (self.widths or [len(c) for c in self.onehot_coef])[c_pos]
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
            | (
                {
                    "class_coef": self.class_coef,
                    "class_intercepts": self.class_intercepts,
                    "widths": self.widths,
                }
                if self.task == "multiclass"
                else {}
            )
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
            class_coef=tuple(tuple(c) for c in d.get("class_coef", ())),
            class_intercepts=tuple(d.get("class_intercepts", ())),
            widths=tuple(d.get("widths", ())),
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


def fit_linear(
    x: np.ndarray, y: np.ndarray, spec: FeatureSpec, *, c: float = 1.0, balanced: bool = False
) -> LinearModel:
    """L2-regularised logistic regression (one-hot and scaling inside), by Newton's method:
    minimises C * sum(log-loss) + |w|^2 / 2 with the intercept unpenalised."""
    numeric_idx = tuple(i for i, f in enumerate(spec.features) if f.kind == "numeric")
    categorical_idx = tuple(spec.categorical_indices)
    widths = [len(spec.features[j].categories) for j in categorical_idx]
    num = x[:, list(numeric_idx)]
    means = np.nan_to_num(np.nanmean(num, axis=0)) if numeric_idx else np.zeros(0)
    scales = np.nanstd(num, axis=0) if numeric_idx else np.zeros(0)
    scales = np.where((scales > 0) & np.isfinite(scales), scales, 1.0)
    design = design_matrix(x, numeric_idx, categorical_idx, means, scales, widths)
    common = {
        "means": tuple(float(v) for v in means),
        "scales": tuple(float(v) for v in scales),
        "numeric_idx": numeric_idx,
        "categorical_idx": categorical_idx,
        "task": spec.task,
    }
    if spec.task == "multiclass":
        weights, intercepts = softmax_regression(
            design, y, len(spec.classes), c=c, balanced=balanced
        )
        return LinearModel(
            numeric_coef=(),
            onehot_coef=(),
            intercept=0.0,
            class_coef=tuple(tuple(float(v) for v in row) for row in weights),
            class_intercepts=tuple(float(v) for v in intercepts),
            widths=tuple(widths),
            **common,
        )
    if spec.task == "regression":
        coef, intercept = ridge_regression(design, y.astype(np.float64), alpha=1.0)
    else:
        coef, intercept = logistic_regression(design, y.astype(np.float64), c=c, balanced=balanced)
    k = len(numeric_idx)
    onehot, pos = [], k
    for w in widths:
        onehot.append(tuple(float(v) for v in coef[pos : pos + w]))
        pos += w
    return LinearModel(
        numeric_coef=tuple(float(v) for v in coef[:k]),
        onehot_coef=tuple(onehot),
        intercept=float(intercept),
        **common,
    )


class LinearCandidate(Candidate):
    kind = "linear"
    model_file = "model.json"
    content_type = "application/json"

    def fit(self, rows: TrainingRows) -> Fitted:
        regression = rows.spec.task == "regression"
        tuned, class_weight = rows.tuned, rows.class_weight
        balanced = (
            False
            if regression
            else (
                bool(tuned["params"].get("is_unbalance"))
                if tuned and class_weight == "auto"
                else class_weight == "balanced"
            )
        )
        fit_idx = rows.fit_idx
        sample = (
            fit_idx
            if len(fit_idx) <= LINEAR_ROWS
            else np.sort(
                np.random.default_rng(rows.seed).choice(fit_idx, LINEAR_ROWS, replace=False)
            )
        )
        linear = fit_linear(rows.x[sample], rows.y[sample], rows.spec, balanced=balanced)
        params = {"C": 1.0, "penalty": "l2", "class_weight": "balanced" if balanced else "none"}
        return Fitted(linear, linear.to_json(), linear.predict(rows.x[rows.valid_idx]), params)

    def load(self, text: str) -> Model:
        return LinearModel.from_json(text)


CANDIDATE = LinearCandidate()
