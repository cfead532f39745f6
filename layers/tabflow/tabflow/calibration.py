"""Probability calibration (fit on validation predictions, never on the test set) and the
choice of the decision threshold. Pure numpy; serialised as JSON next to the model."""

import json
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tabflow.evaluation.conformal import ConformalInterval
from tabflow.evaluation.metrics import confusion_counts, expected_calibration_error
from tabflow.solvers import logistic_regression


@dataclass(frozen=True)
class Calibrator:
    method: Literal["none", "platt", "isotonic", "temperature"]
    a: float = 1.0  # platt: p = sigmoid(a * logit(s) + b); temperature: T (softmax(log p / T))
    b: float = 0.0
    xs: tuple[float, ...] = ()  # isotonic: knots (raw score) and fitted values, interpolated
    ys: tuple[float, ...] = ()
    interval: ConformalInterval | None = None  # regression: the served prediction interval

    def apply(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "platt":
            z = self.a * _logit(s) + self.b
            return 1.0 / (1.0 + np.exp(-z))
        if self.method == "isotonic":
            return np.interp(s, self.xs, self.ys)
        if self.method == "temperature":  # rows x classes: one temperature for every class
            return _softmax(np.log(np.clip(s, 1e-15, 1.0)) / self.a)
        return s

    def to_json(self) -> str:
        d: dict = {"method": self.method, "a": self.a, "b": self.b, "xs": self.xs, "ys": self.ys}
        if self.interval is not None:
            d["interval"] = self.interval.to_dict()
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Calibrator":
        d = json.loads(text)
        interval = ConformalInterval.from_dict(d["interval"]) if d.get("interval") else None
        return cls(d["method"], d["a"], d["b"], tuple(d["xs"]), tuple(d["ys"]), interval)


def _logit(s: np.ndarray) -> np.ndarray:
    s = np.clip(s, 1e-6, 1 - 1e-6)
    return np.log(s / (1 - s))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, y: np.ndarray) -> Calibrator:
    """Temperature scaling of multiclass probabilities: the T minimising the log loss of the
    validation rows (convex in 1/T: a golden-section search over log T in [0.05, 20]). It
    never changes which class is the most probable."""
    logp = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-15, 1.0))
    rows, codes = np.arange(len(logp)), np.asarray(y, dtype=np.int64)

    def loss(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, codes]))

    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    best = (lo + hi) / 2
    return Calibrator("temperature", a=float(np.exp(best)) if loss(best) < loss(0.0) else 1.0)


def fit_platt(scores: np.ndarray, y: np.ndarray) -> Calibrator:
    """Logistic regression of the label on logit(score), by Newton's method (tiny ridge)."""
    coef, intercept = logistic_regression(
        _logit(np.asarray(scores, float))[:, None], np.asarray(y, float), c=1e6
    )
    return Calibrator("platt", float(coef[0]), intercept)


def fit_isotonic(scores: np.ndarray, y: np.ndarray) -> Calibrator:
    """Pool-adjacent-violators on scores sorted ascending; a monotone step function."""
    order = np.argsort(scores, kind="mergesort")
    s, t = np.asarray(scores, float)[order], np.asarray(y, float)[order]
    values: list[float] = []
    weights: list[float] = []
    lefts: list[float] = []
    rights: list[float] = []
    for xi, yi in zip(s, t, strict=True):
        values.append(yi)
        weights.append(1.0)
        lefts.append(xi)
        rights.append(xi)
        while len(values) > 1 and values[-2] >= values[-1]:
            w = weights[-2] + weights[-1]
            v = (values[-2] * weights[-2] + values[-1] * weights[-1]) / w
            values[-2:] = [v]
            weights[-2:] = [w]
            lefts[-2:] = [lefts[-2]]
            rights[-2:] = [rights[-1]]
    xs, ys = [], []
    for v, lo, hi in zip(values, lefts, rights, strict=True):
        xs += [lo, hi]
        ys += [v, v]
    return Calibrator("isotonic", xs=tuple(float(v) for v in xs), ys=tuple(float(v) for v in ys))


def fit_calibrator(method: str, scores: np.ndarray, y: np.ndarray) -> Calibrator:
    if method == "platt":
        return fit_platt(scores, y)
    if method == "isotonic":
        return fit_isotonic(scores, y)
    if method == "auto":  # the one with the lower calibration error on these rows... but
        # judged on the same rows it was fitted on isotonic always wins: use a 2-fold check.
        half = np.arange(len(scores)) % 2 == 0
        errors = {}
        for name, fit in (("platt", fit_platt), ("isotonic", fit_isotonic)):
            a = fit(scores[half], y[half]).apply(scores[~half])
            b = fit(scores[~half], y[~half]).apply(scores[half])
            errors[name] = expected_calibration_error(y[~half], a) + expected_calibration_error(
                y[half], b
            )
        return fit_calibrator(min(errors, key=lambda k: errors[k]), scores, y)
    return Calibrator("none")


def choose_threshold(scores: np.ndarray, y: np.ndarray, rule: "ThresholdRule") -> tuple[float, str]:
    """The decision threshold from the contract's rule, on validation predictions."""
    if isinstance(rule, float):
        return rule, f"fixed at {rule}"
    candidates = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, 201)), [0.5]]))
    y = np.asarray(y).astype(bool)
    best_t, best_v = 0.5, None
    for t in candidates:
        tp, fp, fn, _ = confusion_counts(y, scores >= t)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        if "false_positive_cost" in rule:
            value = -(rule["false_positive_cost"] * fp + rule["false_negative_cost"] * fn)
        elif "min_recall" in rule:
            value = precision if recall >= rule["min_recall"] else None
        else:
            value = recall if precision >= rule["min_precision"] else None
        if value is not None and (best_v is None or value > best_v):
            best_t, best_v = float(t), value
    why = {
        "false_positive_cost": "lowest expected cost",
        "min_recall": f"best precision with recall >= {rule.get('min_recall')}",
        "min_precision": f"best recall with precision >= {rule.get('min_precision')}",
    }
    reason = next(v for k, v in why.items() if k in rule)
    if best_v is None:
        reason += " (not reachable on validation rows: 0.5 used)"
    return round(best_t, 6), reason


ThresholdRule = float | dict[str, float]
