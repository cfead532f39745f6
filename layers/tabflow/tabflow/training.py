"""Fitting the candidates: LightGBM and a logistic-regression baseline.

Both read the same feature matrix (features.FeatureSpec), so evaluation and serving score
them through one code path (scoring.py)."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tabflow.contract import NUMBER_TYPES, ColumnType, Contract
from tabflow.features import Feature, FeatureSpec
from tabflow.scoring import LinearModel, design_matrix
from tabflow.targets import label_vector, opposite_spelling

NUMERIC_TYPES = (*NUMBER_TYPES, ColumnType.BOOL)


def _field(contract: Contract, name: str, frame: pd.DataFrame) -> Feature:
    col = contract.columns[name]
    if col.type in NUMERIC_TYPES:
        return Feature(
            name, "numeric", nullable=col.nullable, required=col.required, min=col.min, max=col.max
        )
    if col.type == ColumnType.DATETIME:
        return Feature(name, "datetime", nullable=col.nullable, required=col.required)
    if col.type == ColumnType.STRING:
        return Feature(name, "text", nullable=col.nullable, required=col.required)
    levels = col.categories or sorted(frame[name].dropna().astype(str).unique().tolist())
    return Feature(
        name,
        "categorical",
        tuple(levels),
        nullable=col.nullable,
        required=col.required,
        strict=col.unseen == "reject",
    )


def build_feature_spec(contract: Contract, frame: pd.DataFrame) -> FeatureSpec:
    """The model's columns (contract features, then derived ones) and the raw inputs the
    derived ones need; per-entity history from these rows is attached for serving."""
    features = [_field(contract, name, frame) for name in contract.feature_columns]
    have = {f.name for f in features}
    inputs: list[Feature] = []
    uses_entity = any(d.op.startswith("entity_") for d in contract.derived)
    for d in contract.derived:
        for name in (d.source, d.other):
            if name and name not in have:
                inputs.append(_field(contract, name, frame))
                have.add(name)
        features.append(
            Feature(
                d.name, "numeric", derive={"op": d.op, "source": d.source, "other": d.other or ""}
            )
        )
    if uses_entity:
        for name in (contract.entity_column, contract.timestamp_column):
            if name and name not in have:
                inputs.append(_field(contract, name, frame))
                have.add(name)
    target = contract.columns[contract.target.column]
    negatives = [c for c in (target.categories or []) if c != contract.target.positive_label]
    if contract.target.kind == "regression":
        negatives = [""]
    elif target.type == ColumnType.BOOL:  # served labels spelled like the positive one
        negatives = [opposite_spelling(contract.target.positive_label or "") or "not positive"]
    elif not negatives:
        observed = frame[contract.target.column].dropna().astype(str).unique().tolist()
        negatives = sorted(v for v in observed if v != contract.target.positive_label)
    spec = FeatureSpec(
        tuple(features),
        contract.target.column,
        contract.target.positive_label or "",
        negatives[0] if negatives else f"not {contract.target.positive_label}",
        inputs=tuple(inputs),
        entity=contract.entity_column if uses_entity else None,
        timestamp=contract.timestamp_column if uses_entity else None,
        id_column=contract.id_column,
        task=contract.target.kind,
    )
    return spec.with_history(frame_columns(spec, frame)) if uses_entity else spec


def frame_columns(spec: FeatureSpec, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A curated frame as the plain columns FeatureSpec.matrix reads (the API sends lists)."""
    out: dict[str, np.ndarray] = {}
    for feat in spec.fields:
        series = frame[feat.name]
        if feat.kind == "numeric":
            out[feat.name] = series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        elif feat.kind == "datetime":
            out[feat.name] = pd.to_datetime(series).to_numpy(dtype="datetime64[s]")
        elif feat.kind == "categorical":  # codes for the spec's categories, like encode_categories
            codes = pd.Categorical(
                series.astype(object).where(series.notna(), None), categories=feat.categories
            ).codes
            out[feat.name] = np.where(codes < 0, np.nan, codes).astype(np.float64)
        else:
            out[feat.name] = (
                series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
            )
    return out


def time_split(times: np.ndarray, test_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Train on the past, test on the future: the latest ``test_size`` share of rows is held out."""
    order = np.argsort(times, kind="stable")
    cut = int(round(len(order) * (1 - test_size)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def target_vector(spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    if spec.task == "regression":
        return frame[spec.target].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return label_vector(frame[spec.target].tolist(), spec.positive_label)  # "Yes" means True


def random_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - test_size)))
    return np.sort(rows[:cut]), np.sort(rows[cut:])


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``test_size`` of each class (at least one row of each when possible)."""
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        rng.shuffle(rows)
        k = int(round(len(rows) * test_size))
        test.append(rows[: max(k, 1 if len(rows) > 1 else 0)])
    test_idx = np.sort(np.concatenate(test)) if test else np.array([], dtype=int)
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx, test_idx


def validation_split(
    y: np.ndarray, times: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows to fit on and rows to early-stop, calibrate and pick a threshold on: the latest
    15% when the data has a timestamp, a stratified 15% otherwise."""
    return time_split(times, 0.15) if times is not None else stratified_split(y, 0.15, seed)


@dataclass(frozen=True)
class FittedLightGBM:
    model_text: str
    params: dict[str, Any]
    best_iteration: int


def lightgbm_dataset(spec: FeatureSpec, x: np.ndarray, y: np.ndarray) -> Any:
    """The training rows as LightGBM sees them: feature names and categorical columns from
    the spec (kept raw so the Dataset can be reused)."""
    import lightgbm as lgb

    return lgb.Dataset(
        x,
        y,
        feature_name=spec.names,
        categorical_feature=spec.categorical_indices,
        free_raw_data=False,
    )


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
    balanced are fitted and the better validation PR-AUC wins. Returns the model and its raw
    validation scores (for calibration and the threshold)."""
    import lightgbm as lgb

    from tabflow.metrics import average_precision

    regression = spec.task == "regression"
    base: dict[str, Any] = {
        "objective": "regression" if regression else "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "max_cat_to_onehot": 8,
        "seed": seed,
        "num_threads": 2,
        "verbosity": -1,
    }
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
    # One Dataset for every option: class weights are a training parameter, not a binning one.
    train = lightgbm_dataset(spec, x[fit_idx], y[fit_idx])
    valid = lgb.Dataset(x[valid_idx], y[valid_idx], reference=train)
    for balanced in options:
        run_params = base if regression else base | {"is_unbalance": balanced}
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
        quality = (
            -float(np.mean((scores - y[valid_idx]) ** 2))
            if regression
            else average_precision(y[valid_idx], scores)
        )
        fitted = FittedLightGBM(
            booster.model_to_string(num_iteration=rounds),
            run_params | {"num_boost_round": rounds},
            rounds,
        )
        if best is None or quality > best[0]:
            best = (quality, fitted, scores)
    assert best is not None
    return best[1], best[2]


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
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        numeric_coef=tuple(float(v) for v in coef[:k]),
        onehot_coef=tuple(onehot),
        intercept=float(intercept),
        numeric_idx=numeric_idx,
        categorical_idx=categorical_idx,
        task=spec.task,
    )


def ridge_regression(
    design: np.ndarray, y: np.ndarray, *, alpha: float
) -> tuple[np.ndarray, float]:
    """Least squares with an L2 penalty on the coefficients (not the intercept)."""
    mean_x, mean_y = design.mean(axis=0), float(y.mean())
    xc = design - mean_x
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(design.shape[1]), xc.T @ (y - mean_y))
    return coef, mean_y - float(mean_x @ coef)


def logistic_regression(
    design: np.ndarray, y: np.ndarray, *, c: float, balanced: bool = False, iterations: int = 100
) -> tuple[np.ndarray, float]:
    n, d = design.shape
    weights = np.ones(n)
    if balanced and 0 < y.sum() < n:
        pos = y.sum()
        weights = np.where(y == 1, n / (2 * pos), n / (2 * (n - pos)))
    xb = np.column_stack([design, np.ones(n)])
    w = np.zeros(d + 1)
    penalty = np.ones(d + 1) / c
    penalty[-1] = 0.0

    def loss(v: np.ndarray) -> float:
        z = xb @ v
        return float(np.sum(weights * (np.logaddexp(0, z) - y * z)) + 0.5 * np.sum(penalty * v * v))

    current = loss(w)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -35, 35)))
        grad = xb.T @ (weights * (p - y)) + penalty * w
        hess = (
            (xb * (weights * p * (1 - p))[:, None]).T @ xb
            + np.diag(penalty)
            + 1e-10 * np.eye(d + 1)
        )
        step = np.linalg.solve(hess, grad)
        scale, candidate = 1.0, loss(w - step)
        while candidate > current + 1e-12 and scale > 1e-6:  # damped Newton: the loss never rises
            scale /= 2
            candidate = loss(w - scale * step)
        w -= scale * step
        improved, current = current - candidate, candidate
        if np.max(np.abs(scale * step)) < 1e-9 or improved < 1e-12 * max(1.0, abs(current)):
            break
    return w[:-1], float(w[-1])
