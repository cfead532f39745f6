"""The training data as the tasks read it: the contract, the curated frame, its feature spec
and target; the timestamps; and the train/test split (made once, by Prepare, and stored)."""

import json
from typing import Any

import numpy as np

from tabflow.ports import ObjectStore, TableStore, s3_uri
from tabflow.training import (
    build_feature_spec,
    random_split,
    stratified_split,
    target_vector,
    time_split,
    validation_split,
)
from tabflow.workflow.common import load_contract
from tabflow.workflow.payloads import RunRef, TrainRun


def make_split(
    y: np.ndarray, times: np.ndarray | None, test_size: float, seed: int, regression: bool
) -> dict[str, Any]:
    """Train/test rows (in time, stratified, or random for regression) and, inside the training
    rows, the rows to fit on and the validation rows (early stopping, calibration, threshold)."""
    if times is not None:
        train_idx, test_idx = time_split(times, test_size)
    elif regression:
        train_idx, test_idx = random_split(len(y), test_size, seed)
    else:
        train_idx, test_idx = stratified_split(y, test_size, seed)
    if regression and times is None:
        fit_pos, valid_pos = random_split(len(train_idx), 0.15, seed + 1)
    else:
        fit_pos, valid_pos = validation_split(
            y[train_idx], None if times is None else times[train_idx], seed + 1
        )
    return {
        "kind": "time" if times is not None else ("random" if regression else "stratified"),
        "train_rows": train_idx.tolist(),
        "test_rows": test_idx.tolist(),
        "fit_rows": train_idx[fit_pos].tolist(),
        "valid_rows": train_idx[valid_pos].tolist(),
    }


def write_split(
    store: ObjectStore, lake_bucket: str, dataset: str, run_id: str, split: dict[str, Any]
) -> str:
    uri = s3_uri(lake_bucket, f"runs/{dataset}/run={run_id}/split.json")
    store.put(uri, json.dumps(split).encode(), "application/json")
    return uri


def timestamps(contract: Any, frame: Any) -> np.ndarray | None:
    """The contract's timestamp column as datetime64[ns], or None when it declares none."""
    if not contract.timestamp_column:
        return None
    return frame[contract.timestamp_column].to_numpy(dtype="datetime64[ns]")


def load_training_data(state: RunRef, store: ObjectStore, tables: TableStore):
    contract = load_contract(store, state.contract_uri)
    frame = tables.read_parquet(state.curated_uri)
    spec = build_feature_spec(contract, frame)
    return contract, frame, spec, target_vector(spec, frame)


def training_context(state: TrainRun, store: ObjectStore, tables: TableStore, lake_bucket: str):
    dataset, run_id = state.dataset, state.run_id
    contract, frame, spec, y = load_training_data(state, store, tables)
    regression = spec.task == "regression"
    if regression and np.isnan(y).any():
        raise ValueError(f"{dataset}: the target {spec.target!r} has missing values")
    if spec.task == "multiclass" and (y < 0).any():
        raise ValueError(f"{dataset}: {int((y < 0).sum())} rows of {spec.target!r} have no class")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{dataset}: the target {spec.target!r} has a single class; cannot train")
    cfg = contract.training
    times = timestamps(contract, frame)
    if state.prepare:
        split_uri = state.prepare.split_uri
        split = json.loads(store.get(split_uri))
    else:  # called without the Prepare step (tools, tests): split here, the same way
        split = make_split(y, times, cfg.test_size, cfg.seed, regression)
        split_uri = write_split(store, lake_bucket, dataset, run_id, split)
    return contract, frame, spec, y, times, split, split_uri
