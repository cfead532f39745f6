"""The model kinds behind one small interface.

A candidate kind (``Candidate``: LightGBM, the linear baseline) fits itself on the training
rows, calibrates its validation scores and chooses a threshold, and saves and loads its model
file; a loaded ``Model`` scores rows (``predict``) and explains them (``contributions``).
Evaluation and the API load models through ``load_model`` alike, so offline and online scores
are the same code. Model files are plain text (LightGBM) or JSON (linear): loading one can
never run code. A new kind is a new module named in ``KINDS`` that defines ``CANDIDATE``.
No pandas or scikit-learn imports (the API loads models from here)."""

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from tabflow.calibration import (
    Calibrator,
    ThresholdRule,
    choose_threshold,
    fit_calibrator,
    fit_temperature,
)
from tabflow.evaluation.conformal import ConformalInterval, fit_conformal
from tabflow.features import FeatureSpec
from tabflow.ports import ObjectStore

# kind -> the module that implements it (imported on first use: the API loads only its own).
KINDS = {"lightgbm": "tabflow.models.lightgbm", "linear": "tabflow.models.linear"}


class Model(Protocol):
    kind: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores: probabilities for a binary task, values for a regression, rows x classes
        probabilities (the spec's class order) for a multiclass task."""
        ...

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions (rows x features), in log-odds; for a multiclass task
        those of each row's most probable class."""
        ...


@dataclass(frozen=True)
class TrainingRows:
    """What a candidate fits on: the feature matrix and target of every curated row, the rows
    to fit on and the validation rows, and the contract's settings with the best trial."""

    x: np.ndarray
    y: np.ndarray
    spec: FeatureSpec
    fit_idx: np.ndarray
    valid_idx: np.ndarray
    seed: int
    class_weight: str
    tuned: dict[str, Any] | None  # the best tuning trial (params, rounds), if any


@dataclass(frozen=True)
class Fitted:
    model: Model
    text: str  # the model file's content
    raw_valid: np.ndarray  # uncalibrated scores of the validation rows
    params: dict[str, Any]  # what the metadata records


@dataclass(frozen=True)
class Calibrated:
    calibrator: Calibrator
    scores: np.ndarray  # calibrated validation scores
    threshold: float
    reason: str


class Candidate:
    """A model kind. Subclasses set the class attributes and implement ``fit`` and ``load``."""

    kind: str
    model_file: str  # the file name of its model under a run's or a version's prefix
    content_type: str
    # The kind whose branch also writes the run's feature spec, drift reference and importance
    # (its models have ``importance()``, total gain per feature).
    describes_run: bool = False

    def fit(self, rows: TrainingRows) -> Fitted:
        raise NotImplementedError

    def load(self, text: str) -> Model:
        raise NotImplementedError

    def save(self, fitted: Fitted) -> bytes:
        return fitted.text.encode()

    def calibrate(
        self,
        raw_valid: np.ndarray,
        y_valid: np.ndarray,
        *,
        task: str,
        method: str,
        rule: ThresholdRule,
        coverage: float = 0.9,
        interval: str = "auto",
        y_fit: np.ndarray | None = None,
    ) -> Calibrated:
        """Calibration and the decision threshold, on the validation rows; for a regression
        (values: nothing to calibrate, no threshold) the split-conformal prediction interval
        at ``coverage`` from the validation rows' residuals."""
        if task == "regression":
            conformal = fit_conformal(
                y_valid, raw_valid, coverage=coverage, scale=interval, y_fit=y_fit
            )
            return Calibrated(Calibrator("none", interval=conformal), raw_valid, 0.0, "regression")
        if task == "multiclass":  # temperature scaling; the answer is the most probable class
            calibrator = (
                Calibrator("none") if method == "none" else fit_temperature(raw_valid, y_valid)
            )
            return Calibrated(
                calibrator, calibrator.apply(raw_valid), 0.0, "the most probable class"
            )
        calibrator = fit_calibrator(method, raw_valid, y_valid)
        calibrated = calibrator.apply(raw_valid)
        threshold, why = choose_threshold(calibrated, y_valid, rule)
        return Calibrated(calibrator, calibrated, threshold, why)


def candidate(kind: str) -> Candidate:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    return importlib.import_module(KINDS[kind]).CANDIDATE


def load_model(kind: str, payload: str | bytes) -> Model:
    text = payload.decode() if isinstance(payload, bytes) else payload
    return candidate(kind).load(text)


class CalibratedModel:
    """A model whose probabilities pass through a calibrator; explanations stay those of the
    underlying model (log-odds contributions)."""

    def __init__(self, model: Model, calibrator: "Calibrator") -> None:
        self.model, self.calibrator, self.kind = model, calibrator, model.kind

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.model.predict(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return self.model.contributions(x)


def prediction_interval(model: Model) -> ConformalInterval | None:
    """The served interval of a regression model loaded with its calibration file, if any."""
    calibrator = getattr(model, "calibrator", None)
    return None if calibrator is None else calibrator.interval


def load_calibrated(kind: str, model: bytes, calibration: bytes | None) -> Model:
    """A model file and its calibrator, loaded as one model (calibrated scores)."""
    loaded = load_model(kind, model)
    if calibration:
        loaded = CalibratedModel(loaded, Calibrator.from_json(calibration))
    return loaded


def load_stored(
    store: ObjectStore, kind: str, model_uri: str, calibration_uri: str | None
) -> Model:
    """``load_calibrated`` from the files' URIs."""
    return load_calibrated(
        kind, store.get(model_uri), store.get(calibration_uri) if calibration_uri else None
    )


@dataclass(frozen=True)
class ScoredRows:
    scores: np.ndarray
    labels: list[str | None]
    top_features: list[list[dict]]
    intervals: tuple[np.ndarray, np.ndarray] | None = None  # regression: (low, high)
    probabilities: np.ndarray | None = None  # multiclass: rows x classes (the spec's order)


def score(
    model: Model, spec: FeatureSpec, x: np.ndarray, *, threshold: float, top_k: int = 3
) -> ScoredRows:
    scores = model.predict(x)
    intervals = probabilities = None
    if spec.task == "multiclass":  # the score is the most probable class's probability
        probabilities = scores
        chosen = probabilities.argmax(axis=1)
        scores = probabilities[np.arange(len(chosen)), chosen]
        labels = [spec.classes[c] for c in chosen]
    elif spec.task == "regression":
        labels: list[str | None] = [None] * len(scores)
        conformal = prediction_interval(model)
        intervals = None if conformal is None else conformal.bounds(scores)
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
    return ScoredRows(
        scores=scores,
        labels=labels,
        top_features=tops,
        intervals=intervals,
        probabilities=probabilities,
    )
