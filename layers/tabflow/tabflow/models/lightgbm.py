"""The LightGBM candidate: its parameters (the defaults, in one place: tuning starts from
them), its Dataset recipe, the fit with early stopping and class weights, and the model loaded
from LightGBM's native text format."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from tabflow.evaluation.metrics import average_precision, multiclass_metrics
from tabflow.features import FeatureSpec
from tabflow.models.base import Candidate, Fitted, Model, TrainingRows

# The parameters the tuning searches, at their default values (the first trial).
TUNED_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
}


OBJECTIVES = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}


def default_params(task: str, seed: int, classes: int = 0) -> dict[str, Any]:
    """Every parameter of a fit: the tuned ones at their defaults and the fixed ones
    (``classes``: the number of classes of a multiclass task)."""
    return ({"num_class": classes} if task == "multiclass" else {}) | {
        "objective": OBJECTIVES[task],
        "learning_rate": TUNED_DEFAULTS["learning_rate"],
        "num_leaves": TUNED_DEFAULTS["num_leaves"],
        "min_data_in_leaf": TUNED_DEFAULTS["min_data_in_leaf"],
        "feature_fraction": TUNED_DEFAULTS["feature_fraction"],
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": TUNED_DEFAULTS["lambda_l2"],
        "cat_smooth": 10.0,
        "max_cat_to_onehot": 8,
        "seed": seed,
        "num_threads": 2,
        "verbosity": -1,
    }


class LightGBMModel:
    kind = "lightgbm"

    def __init__(self, model_text: str):
        import lightgbm  # imported here: the linear model must not pay for it

        self._booster = lightgbm.Booster(model_str=model_text)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (binary), values (regression), or rows x classes probabilities."""
        return np.asarray(self._booster.predict(x), dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """TreeSHAP per feature, in raw scores; for multiclass those of each row's most
        probable class (what its explanation is about)."""
        contrib = np.asarray(self._booster.predict(x, pred_contrib=True))
        classes = self._booster.num_model_per_iteration()
        if classes == 1:
            return contrib[:, :-1]  # the last column is the expected value
        per_class = contrib.reshape(len(x), classes, -1)[:, :, :-1]
        return per_class[np.arange(len(x)), self.predict(x).argmax(axis=1)]

    def importance(self) -> np.ndarray:
        """Total gain per feature."""
        return np.asarray(
            self._booster.feature_importance(importance_type="gain"), dtype=np.float64
        )


@dataclass(frozen=True)
class FittedLightGBM:
    model_text: str
    params: dict[str, Any]
    best_iteration: int


def lightgbm_dataset(
    spec: FeatureSpec, x: np.ndarray, y: np.ndarray, *, balanced: bool = False
) -> Any:
    """The training rows as LightGBM sees them: feature names and categorical columns from
    the spec (kept raw so the Dataset can be reused); ``balanced`` weighs a multiclass
    task's rows by the inverse of their class's share (binary uses ``is_unbalance``)."""
    import lightgbm as lgb

    return lgb.Dataset(
        x,
        y,
        weight=class_weights(y, len(spec.classes)) if balanced else None,
        feature_name=spec.names,
        categorical_feature=spec.categorical_indices,
        free_raw_data=False,
    )


def class_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """Per-row weights n / (classes x rows of the row's class): every class weighs the same."""
    codes = np.asarray(y, dtype=np.int64)
    counts = np.bincount(codes, minlength=classes).astype(np.float64)
    return len(codes) / (classes * counts[codes])


def task_params(spec: FeatureSpec, params: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The parameters LightGBM takes for this task and whether a multiclass fit weighs its
    classes: for multiclass ``is_unbalance`` (the trials' class-weight switch) becomes row
    weights; regression has none."""
    balanced = bool(params.get("is_unbalance", False))
    if spec.task == "binary":
        return params, False
    return {k: v for k, v in params.items() if k != "is_unbalance"}, (
        balanced and spec.task == "multiclass"
    )


def validation_quality(spec: FeatureSpec, y: np.ndarray, scores: np.ndarray) -> float:
    """Higher is better: PR-AUC (binary), macro AUC (multiclass), -MSE (regression)."""
    if spec.task == "regression":
        return -float(np.mean((scores - y) ** 2))
    if spec.task == "multiclass":
        return multiclass_metrics(y, scores, spec.classes)["auc"] or 0.0
    return average_precision(y, scores)


def fit_lightgbm(
    x: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    *,
    seed: int,
    fit_idx: np.ndarray,
    valid_idx: np.ndarray,
    class_weight: str = "auto",
    params: dict[str, Any] | None = None,
) -> tuple[FittedLightGBM, np.ndarray]:
    """Early stopping on the validation rows; with class_weight "auto" both unweighted and
    balanced are fitted and the better validation PR-AUC (multiclass: macro AUC) wins.
    Returns the model and its raw validation scores (for calibration and the threshold)."""
    import lightgbm as lgb

    regression = spec.task == "regression"
    base = default_params(spec.task, seed, len(spec.classes))
    options = (
        [False]
        if regression
        else {"none": [False], "balanced": [True], "auto": [False, True]}[class_weight]
    )
    rounds_fixed = 0
    if params:  # tuned: the folds already chose everything, class weights and rounds included
        rounds_fixed = int(params.get("num_boost_round", 0))
        base = base | {
            k: v for k, v in params.items() if k not in ("is_unbalance", "num_boost_round")
        }
        options = [bool(params.get("is_unbalance", False))]
    best: tuple[float, FittedLightGBM, np.ndarray] | None = None
    # One Dataset for every option: class weights are a training parameter, not a binning one
    # (multiclass weighs rows instead, so it builds a Dataset per option).
    datasets: dict[bool, tuple[Any, Any]] = {}
    for balanced in options:
        run_params, weighted = task_params(
            spec, base if regression else base | {"is_unbalance": balanced}
        )
        if weighted not in datasets:
            train = lightgbm_dataset(spec, x[fit_idx], y[fit_idx], balanced=weighted)
            datasets[weighted] = (train, lgb.Dataset(x[valid_idx], y[valid_idx], reference=train))
        train, valid = datasets[weighted]
        if rounds_fixed:  # the cross-validated number of rounds: no early-stopping overhead
            booster = lgb.train(run_params, train, num_boost_round=rounds_fixed)
        else:
            booster = lgb.train(
                run_params,
                train,
                num_boost_round=2000,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(100, verbose=False)],
            )
        rounds = booster.best_iteration or booster.current_iteration()
        scores = booster.predict(x[valid_idx], num_iteration=rounds)
        quality = validation_quality(spec, y[valid_idx], scores)
        recorded = run_params | ({"class_weight": "balanced"} if weighted else {})
        fitted = FittedLightGBM(
            booster.model_to_string(num_iteration=rounds),
            recorded | {"num_boost_round": rounds},
            rounds,
        )
        if best is None or quality > best[0]:
            best = (quality, fitted, scores)
    assert best is not None
    return best[1], best[2]


class LightGBMCandidate(Candidate):
    kind = "lightgbm"
    model_file = "model.txt"
    content_type = "text/plain"
    describes_run = True

    def fit(self, rows: TrainingRows) -> Fitted:
        """With the best trial's parameters and rounds when the workflow tuned, else the
        defaults with early stopping."""
        tuned, params = rows.tuned, None
        if tuned:
            params = tuned["params"] | (
                {"num_boost_round": tuned["rounds"]} if tuned.get("rounds") else {}
            )
        fitted, raw_valid = fit_lightgbm(
            rows.x,
            rows.y,
            rows.spec,
            seed=rows.seed,
            fit_idx=rows.fit_idx,
            valid_idx=rows.valid_idx,
            class_weight=rows.class_weight,
            params=params,
        )
        text = fitted.model_text
        return Fitted(LightGBMModel(text), text, raw_valid, fitted.params)

    def load(self, text: str) -> Model:
        return LightGBMModel(text)


CANDIDATE = LightGBMCandidate()
