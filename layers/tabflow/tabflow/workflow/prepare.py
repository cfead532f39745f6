"""Prepare: split once (the test rows are set aside here and only Evaluate reads them), draw
the tuning trials and their folds, and choose where the training runs (Lambda or AWS Batch)."""

import numpy as np

from tabflow.errors import TargetUnresolved
from tabflow.models.base import KINDS
from tabflow.observability import logger
from tabflow.ports import ObjectStore, TableStore
from tabflow.targets import resolve_target
from tabflow.tuning import folds, trial_params
from tabflow.workflow.data import load_training_data, make_split, timestamps, write_split
from tabflow.workflow.payloads import Json, PrepareOutput, Run, TrialSpec


def choose_engine(
    configured: str, requested: str | None, rows: int, features: int, switch_cells: int
) -> str:
    """Where the trials and candidates run: in Lambda, or as AWS Batch jobs when the stack has
    them (TrainingEngine batch or auto) and either the execution asks for it or, under auto,
    the training matrix passes the switch point (see bench/scale.py and the README)."""
    if requested not in (None, "lambda", "batch"):
        raise ValueError(f"engine {requested!r}: expected 'lambda' or 'batch'")
    if requested == "batch" and configured == "lambda":
        raise ValueError(
            "engine 'batch' was requested but this stack has no AWS Batch resources: "
            "deploy with the parameter TrainingEngine=batch or auto"
        )
    if requested:
        return requested
    if configured == "auto":
        return "batch" if rows * features >= switch_cells else "lambda"
    return configured


def prepare(
    state: Run | Json,
    *,
    store: ObjectStore,
    tables: TableStore,
    lake_bucket: str,
    engine: str = "lambda",
    batch_switch_cells: int = 40_000_000,
) -> PrepareOutput:
    """Split once (the test rows are set aside here and only evaluate reads them), draw the
    tuning trials and their folds, and choose the engine. The Map state fans the trials out."""
    state = Run.of(state)
    dataset, run_id = state.dataset, state.run_id
    contract, frame, spec, y = load_training_data(state, store, tables)
    cfg = contract.training
    regression = spec.task == "regression"
    if not regression:  # labels resolved as ingest reads them, or refused with what was seen
        labels = resolve_target(contract, frame[spec.target].astype(object).tolist())
        if labels.errors:
            raise TargetUnresolved(f"{dataset}: {labels.message()}")
        if spec.task == "multiclass" and (y < 0).any():
            raise TargetUnresolved(
                f"{dataset}: {int((y < 0).sum())} rows of target {spec.target!r} are no class "
                f"the model can learn; {labels.message()}"
            )
    if len(np.unique(y[~np.isnan(y)] if regression else y)) < 2:
        raise ValueError(f"{dataset}: the target {spec.target!r} has a single class; cannot train")
    times = timestamps(contract, frame)
    split = make_split(y, times, cfg.test_size, cfg.seed, regression)
    train_rows = np.asarray(split["train_rows"])
    fold_list = folds(
        y[train_rows], None if times is None else times[train_rows], cfg.tuning.folds, cfg.seed
    )
    split["folds"] = [[train_rows[f].tolist(), train_rows[v].tolist()] for f, v in fold_list]
    split_uri = write_split(store, lake_bucket, dataset, run_id, split)
    trials = trial_params(
        cfg.tuning.trials, seed=cfg.seed, task=spec.task, class_weight=cfg.class_weight
    )
    chosen = choose_engine(engine, state.engine, len(frame), len(spec.names), batch_switch_cells)
    logger.info(
        "training prepared",
        extra={
            "dataset": dataset,
            "run_id": run_id,
            "trials": len(trials),
            "split": split["kind"],
            "train_rows": len(train_rows),
            "engine": chosen,
        },
    )
    return PrepareOutput(
        split_uri=split_uri,
        split=split["kind"],
        engine=chosen,
        trials=[TrialSpec(trial=i, params=p) for i, p in enumerate(trials)],
        candidates=list(KINDS),
    )
