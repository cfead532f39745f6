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
    if not negatives:
        observed = frame[contract.target.column].dropna().astype(str).unique().tolist()
        negatives = sorted(v for v in observed if v != contract.target.positive_label)
    spec = FeatureSpec(
        tuple(features),
        contract.target.column,
        contract.target.positive_label,
        negatives[0] if negatives else "not " + contract.target.positive_label,
        inputs=tuple(inputs),
        entity=contract.entity_column if uses_entity else None,
        timestamp=contract.timestamp_column if uses_entity else None,
        id_column=contract.id_column,
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
    return (frame[spec.target].astype(str) == spec.positive_label).to_numpy(dtype=np.int8)


def stratified_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(train_idx), np.sort(test_idx)


@dataclass(frozen=True)
class FittedLightGBM:
    model_text: str
    params: dict[str, Any]
    best_iteration: int


def fit_lightgbm(x: np.ndarray, y: np.ndarray, spec: FeatureSpec, *, seed: int) -> FittedLightGBM:
    import lightgbm as lgb

    fit_idx, valid_idx = stratified_split(y, 0.15, seed + 1)
    params: dict[str, Any] = {
        "objective": "binary",
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
    cats = spec.categorical_indices
    train = lgb.Dataset(
        x[fit_idx],
        y[fit_idx],
        feature_name=spec.names,
        categorical_feature=cats,
        free_raw_data=False,
    )
    valid = lgb.Dataset(x[valid_idx], y[valid_idx], reference=train)
    booster = lgb.train(
        params,
        train,
        num_boost_round=2000,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    return FittedLightGBM(
        booster.model_to_string(num_iteration=best), params | {"num_boost_round": best}, best
    )


def fit_linear(
    x: np.ndarray, y: np.ndarray, spec: FeatureSpec, *, seed: int, c: float = 1.0
) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    numeric_idx = tuple(i for i, f in enumerate(spec.features) if f.kind == "numeric")
    categorical_idx = tuple(spec.categorical_indices)
    widths = [len(spec.features[j].categories) for j in categorical_idx]
    num = x[:, list(numeric_idx)]
    means = np.nan_to_num(np.nanmean(num, axis=0)) if numeric_idx else np.zeros(0)
    scales = np.nanstd(num, axis=0) if numeric_idx else np.zeros(0)
    scales = np.where((scales > 0) & np.isfinite(scales), scales, 1.0)
    design = design_matrix(x, numeric_idx, categorical_idx, means, scales, widths)
    clf = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(design, y)
    coef = clf.coef_[0]
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
        intercept=float(clf.intercept_[0]),
        numeric_idx=numeric_idx,
        categorical_idx=categorical_idx,
    )
