"""The training data: the feature spec a contract and a curated frame define, the frame as
the plain columns FeatureSpec.matrix reads, the target vector, and the train/test splits.

The candidates themselves (fitting, saving, loading, scoring) are in tabflow.models."""

import numpy as np
import pandas as pd

from tabflow import pii
from tabflow.contract import NUMBER_TYPES, ColumnType, Contract
from tabflow.features import Feature, FeatureSpec
from tabflow.targets import class_codes, label_vector, opposite_spelling, resolve_target
from tabflow.values import ValueRule

NUMERIC_TYPES = (*NUMBER_TYPES, ColumnType.BOOL)


def _field(contract: Contract, name: str, frame: pd.DataFrame) -> Feature:
    """A request field: its model kind, and the contract's value rule (the API types a value
    exactly as ingest typed the training rows)."""
    col = contract.columns[name]
    limits = {
        "nullable": col.nullable,
        "required": col.required,
        "rule": ValueRule.from_column(name, col, contract.format).to_dict(),
    }
    if col.type in NUMERIC_TYPES:
        return Feature(name, "numeric", min=col.min, max=col.max, **limits)
    if col.type == ColumnType.DATETIME:
        return Feature(name, "datetime", **limits)
    if col.type == ColumnType.STRING:
        return Feature(name, "text", **limits)
    levels = col.categories or sorted(frame[name].dropna().astype(str).unique().tolist())
    return Feature(name, "categorical", tuple(levels), strict=col.unseen == "reject", **limits)


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
    classes: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    if contract.target.kind == "multiclass":  # the class order is fixed here, stored with the model
        resolution = resolve_target(contract, frame[contract.target.column].tolist())
        classes, merged, negatives = tuple(resolution.classes), resolution.merged, [""]
    elif contract.target.kind == "regression":
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
        classes=classes,
        merged=merged,
        pii=pii.policy(contract.columns),
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
    if spec.task == "multiclass":  # class codes in the spec's order; -1 for a row of no class
        return class_codes(frame[spec.target].tolist(), spec.classes, spec.merged)
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
