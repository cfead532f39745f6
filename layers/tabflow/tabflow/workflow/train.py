"""Train: fit one candidate on the fit rows, calibrate it and choose its threshold on the
validation rows (the workflow's Train Map runs one item per model kind). Each candidate
writes its own drift reference, profiled on what it will serve (calibrated scores, its own
importance), so whichever wins, the monitor compares like with like. The branch of the kind
that describes the run (LightGBM) also writes the feature spec, the feature importance shown
in reports and, for a regression, the seasonal baseline."""

from typing import Any

import numpy as np

from tabflow.drift import ReferenceProfile, build_reference
from tabflow.evaluation.baselines import seasonal_baseline
from tabflow.evaluation.metrics import binary_metrics, multiclass_metrics, regression_metrics
from tabflow.features import FeatureSpec
from tabflow.models.base import KINDS, Fitted, Model, TrainingRows, candidate, load_calibrated
from tabflow.observability import logger
from tabflow.ports import ObjectStore, TableStore, s3_uri
from tabflow.training import frame_columns
from tabflow.tuning import select_trial
from tabflow.workflow.common import collect_results
from tabflow.workflow.data import training_context
from tabflow.workflow.payloads import CandidateOutput, Json, Selection, TrainRun
from tabflow.workflow.select import select

REFERENCE_ROWS = 20_000  # rows the drift reference is profiled on (quantiles, shares, a KS sample)
# rows whose explanations give a multiclass model's importance: TreeSHAP costs one pass per class
MULTICLASS_IMPORTANCE_ROWS = 2_000


def train_candidate(
    state: TrainRun | Json,
    name: str,
    *,
    store: ObjectStore,
    tables: TableStore,
    model_bucket: str,
    lake_bucket: str,
) -> CandidateOutput:
    """Fit the candidate ``name`` (LightGBM with the best trial's parameters, or the linear
    baseline), calibrate it and choose its threshold on the validation rows."""
    if name not in KINDS:
        raise ValueError(f"unknown candidate {name!r}")
    kind = candidate(name)
    state = TrainRun.of(state)
    dataset, run_id = state.dataset, state.run_id
    contract, frame, spec, y, times, split, split_uri = training_context(
        state, store, tables, lake_bucket
    )
    cfg = contract.training
    x = spec.matrix(frame_columns(spec, frame))
    fit_idx, valid_idx = np.asarray(split["fit_rows"]), np.asarray(split["valid_rows"])
    y_valid = y[valid_idx]
    tuned = select_trial(collect_results(state.trials, store))
    prefix = f"{dataset}/runs/{run_id}"
    out: dict[str, Any] = {"name": name}
    fitted = kind.fit(
        TrainingRows(x, y, spec, fit_idx, valid_idx, cfg.seed, cfg.class_weight, tuned)
    )
    if kind.describes_run:
        out |= _describe_run(
            store, model_bucket, prefix, spec, x, y, times, split, fitted, cfg.seed
        )
    calibrated = kind.calibrate(
        fitted.raw_valid,
        y_valid,
        task=spec.task,
        method=cfg.calibration,
        rule=cfg.threshold_rule,
        coverage=contract.target.coverage,
        interval=contract.target.interval,
        y_fit=y[fit_idx],
    )
    model_bytes = kind.save(fitted)
    model_uri = s3_uri(model_bucket, f"{prefix}/{name}/{kind.model_file}")
    store.put(model_uri, model_bytes, kind.content_type)
    calibration_bytes = calibrated.calibrator.to_json().encode()
    calibration_uri = s3_uri(model_bucket, f"{prefix}/{name}/calibration.json")
    store.put(calibration_uri, calibration_bytes, "application/json")
    # The reference describes exactly what this candidate serves: loaded as the API loads it.
    served = load_calibrated(name, model_bytes, calibration_bytes)
    reference = served_reference(spec, x, split, served, cfg.seed)
    reference_uri = s3_uri(model_bucket, f"{prefix}/{name}/reference.json")
    store.put(reference_uri, reference.to_json().encode(), "application/json")
    validation = validation_metrics(spec, y_valid, calibrated.scores, calibrated.threshold)
    out.update(
        model_uri=model_uri,
        calibration_uri=calibration_uri,
        reference_uri=reference_uri,
        params=fitted.params,
        calibration=calibrated.calibrator.method,
        threshold=calibrated.threshold,
        threshold_reason=calibrated.reason,
        validation=validation,
        split_uri=split_uri,
        split=split["kind"],
        task=spec.task,
        tuning=tuned,
        rows={
            "train": len(split["fit_rows"]),
            "validation": len(split["valid_rows"]),
            "test": len(split["test_rows"]),
        },
    )
    logger.info(
        "candidate trained",
        extra={"dataset": dataset, "run_id": run_id, "candidate": name, "validation": validation},
    )
    return CandidateOutput(**out)


def validation_metrics(
    spec: FeatureSpec, y: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, Any]:
    """What Select compares the candidates on (``auc``, or ``rmse`` for a regression)."""
    if spec.task == "regression":
        return regression_metrics(y, scores)
    if spec.task == "multiclass":
        m = multiclass_metrics(y, scores, spec.classes)
        return {k: m[k] for k in ("auc", "weighted_auc", "log_loss", "accuracy", "ece")}
    m = binary_metrics(y, scores, threshold=threshold)
    return {k: m[k] for k in ("auc", "pr_auc", "brier", "ece")}


def _describe_run(
    store: ObjectStore,
    model_bucket: str,
    prefix: str,
    spec: FeatureSpec,
    x: np.ndarray,
    y: np.ndarray,
    times: np.ndarray | None,
    split: dict[str, Any],
    fitted: Fitted,
    seed: int,
) -> dict[str, Any]:
    """The feature spec, the top importance (gain) and, for a regression, the baseline to
    beat."""
    out: dict[str, Any] = {}
    out["spec_uri"] = s3_uri(model_bucket, f"{prefix}/features.json")
    store.put(out["spec_uri"], spec.to_json().encode(), "application/json")
    model: Any = fitted.model
    gain = model.importance()
    importance = {
        n: float(g / gain.sum()) if gain.sum() else 0.0
        for n, g in zip(spec.names, gain, strict=True)
    }
    train_idx = np.asarray(split["train_rows"])
    out["importance"] = dict(sorted(importance.items(), key=lambda kv: -kv[1])[:10])
    if spec.task == "regression":
        out["baseline"] = seasonal_baseline(
            y[train_idx], None if times is None else times[train_idx]
        )
    return out


def served_reference(
    spec: FeatureSpec, x: np.ndarray, split: dict[str, Any], served: Model, seed: int
) -> ReferenceProfile:
    """The drift reference of a model as served: feature profiles of the training rows, the
    distribution of the scores the API will return for them (calibrated), and each feature's
    share of the mean absolute contribution (what the explanations show; zero for a feature
    the model never uses)."""
    train_idx = np.asarray(split["train_rows"])
    rows = (
        train_idx
        if len(train_idx) <= REFERENCE_ROWS
        else np.sort(np.random.default_rng(seed).choice(train_idx, REFERENCE_ROWS, replace=False))
    )
    sample = x[rows]
    explained = sample[:MULTICLASS_IMPORTANCE_ROWS] if spec.task == "multiclass" else sample
    weight = np.abs(np.nan_to_num(served.contributions(explained))).mean(axis=0)
    total = float(weight.sum())
    importance = {
        n: float(w / total) if total else 0.0 for n, w in zip(spec.names, weight, strict=True)
    }
    return build_reference(spec, sample, served.predict(sample), importance, seed=seed)


def train(
    state: TrainRun | Json,
    *,
    store: ObjectStore,
    tables: TableStore,
    model_bucket: str,
    lake_bucket: str,
) -> Selection:
    """Both candidates one after the other, then the choice: what the workflow's parallel
    branches and its Select step do."""
    return select(
        [
            train_candidate(
                state,
                name,
                store=store,
                tables=tables,
                model_bucket=model_bucket,
                lake_bucket=lake_bucket,
            )
            for name in KINDS
        ],
        store,
    )
