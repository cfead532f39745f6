"""The training workflow's tasks: train -> evaluate -> (gate) -> promote, and notify.

Each task takes the state machine's JSON state and returns a small summary; data moves
through S3 URIs only (Step Functions payloads are limited to 256 KB)."""

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tabflow import emails
from tabflow.calibration import Calibrator, choose_threshold, fit_calibrator
from tabflow.contract import Contract, parse_contract
from tabflow.drift import build_reference
from tabflow.features import FeatureSpec
from tabflow.gates import decide, decide_regression
from tabflow.metrics import BINARY_SUMMARY, REGRESSION_SUMMARY, binary_metrics, regression_metrics
from tabflow.observability import logger
from tabflow.ports import Mailer, ModelVersion, ObjectStore, Registry, TableStore, s3_uri
from tabflow.reports import evaluation_html, model_card
from tabflow.scoring import CalibratedModel, LightGBMModel, Model, load_model
from tabflow.stats import roc_auc
from tabflow.training import (
    build_feature_spec,
    fit_lightgbm,
    fit_linear,
    frame_columns,
    random_split,
    stratified_split,
    target_vector,
    time_split,
    validation_split,
)
from tabflow.tuning import cross_validate, folds, trial_params

MODEL_FILES = {"lightgbm": "model.txt", "linear": "model.json"}
LINEAR_ROWS = 100_000
REFERENCE_ROWS = 20_000  # rows the drift reference is profiled on (quantiles, shares, a KS sample)


def _contract(store: ObjectStore, uri: str) -> Contract:
    return parse_contract(store.get(uri), source=uri)


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


def _write_split(
    store: ObjectStore, lake_bucket: str, dataset: str, run_id: str, split: dict[str, Any]
) -> str:
    uri = s3_uri(lake_bucket, f"runs/{dataset}/run={run_id}/split.json")
    store.put(uri, json.dumps(split).encode(), "application/json")
    return uri


def _timestamps(contract: Any, frame: Any) -> np.ndarray | None:
    """The contract's timestamp column as datetime64[ns], or None when it declares none."""
    if not contract.timestamp_column:
        return None
    return frame[contract.timestamp_column].to_numpy(dtype="datetime64[ns]")


def _load_training_data(state: dict[str, Any], store: ObjectStore, tables: TableStore):
    contract = _contract(store, state["contract_uri"])
    frame = tables.read_parquet(state["curated_uri"])
    spec = build_feature_spec(contract, frame)
    return contract, frame, spec, target_vector(spec, frame)


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
    state: dict[str, Any],
    *,
    store: ObjectStore,
    tables: TableStore,
    lake_bucket: str,
    engine: str = "lambda",
    batch_switch_cells: int = 40_000_000,
) -> dict[str, Any]:
    """Split once (the test rows are set aside here and only evaluate reads them), draw the
    tuning trials and their folds, and choose the engine. The Map state fans the trials out."""
    dataset, run_id = state["dataset"], state["run_id"]
    contract, frame, spec, y = _load_training_data(state, store, tables)
    cfg = contract.training
    regression = spec.task == "regression"
    if len(np.unique(y[~np.isnan(y)] if regression else y)) < 2:
        raise ValueError(f"{dataset}: the target {spec.target!r} has a single class; cannot train")
    times = _timestamps(contract, frame)
    split = make_split(y, times, cfg.test_size, cfg.seed, regression)
    train_rows = np.asarray(split["train_rows"])
    fold_list = folds(
        y[train_rows], None if times is None else times[train_rows], cfg.tuning.folds, cfg.seed
    )
    split["folds"] = [[train_rows[f].tolist(), train_rows[v].tolist()] for f, v in fold_list]
    split_uri = _write_split(store, lake_bucket, dataset, run_id, split)
    trials = trial_params(
        cfg.tuning.trials, seed=cfg.seed, task=spec.task, class_weight=cfg.class_weight
    )
    chosen = choose_engine(
        engine, state.get("engine"), len(frame), len(spec.names), batch_switch_cells
    )
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
    return {
        "split_uri": split_uri,
        "split": split["kind"],
        "engine": chosen,
        "trials": [{"trial": i, "params": p} for i, p in enumerate(trials)],
    }


def trial(event: dict[str, Any], *, store: ObjectStore, tables: TableStore) -> dict[str, Any]:
    """One tuning trial: K-fold cross-validation of one parameter set on the training rows."""
    contract, frame, spec, y = _load_training_data(event, store, tables)
    x = spec.matrix(frame_columns(spec, frame))
    split = json.loads(store.get(event["split_uri"]))
    fold_list = [(np.asarray(f), np.asarray(v)) for f, v in split["folds"]]
    result = cross_validate(
        x,
        y,
        spec,
        event["trial"]["params"],
        fold_list,
        seed=contract.training.seed,
        seconds=contract.training.tuning.seconds,
    )
    return {"trial": event["trial"]["trial"], "params": event["trial"]["params"], **result}


def best_trial(trials: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The trial with the best cross-validated score (ties: the earlier, i.e. the defaults)."""
    if not trials:
        return None
    return max(trials, key=lambda t: (t["score"], -t["trial"]))


def job_result_uri(model_bucket: str, dataset: str, run_id: str, task: str) -> str:
    """Where a training task run as an AWS Batch job leaves its result (the state machine
    computes the same key: States.Format in training.asl.json)."""
    return s3_uri(model_bucket, f"{dataset}/runs/{run_id}/jobs/{task}.json")


def collect_results(items: list[dict[str, Any]] | None, store: ObjectStore) -> list[dict[str, Any]]:
    """Task results as the workflow passes them on: inline (a Lambda's return value), or a
    ``{"result_uri": ...}`` pointer to the JSON a Batch job wrote (a job returns nothing)."""
    return [
        json.loads(store.get(item["result_uri"])) if set(item) == {"result_uri"} else item
        for item in items or []
    ]


def _training_context(
    state: dict[str, Any], store: ObjectStore, tables: TableStore, lake_bucket: str
):
    dataset, run_id = state["dataset"], state["run_id"]
    contract, frame, spec, y = _load_training_data(state, store, tables)
    regression = spec.task == "regression"
    if regression and np.isnan(y).any():
        raise ValueError(f"{dataset}: the target {spec.target!r} has missing values")
    if len(np.unique(y)) < 2:
        raise ValueError(f"{dataset}: the target {spec.target!r} has a single class; cannot train")
    cfg = contract.training
    times = _timestamps(contract, frame)
    prepared = state.get("prepare")
    if prepared:
        split_uri = prepared["split_uri"]
        split = json.loads(store.get(split_uri))
    else:  # called without the Prepare step (tools, tests): split here, the same way
        split = make_split(y, times, cfg.test_size, cfg.seed, regression)
        split_uri = _write_split(store, lake_bucket, dataset, run_id, split)
    return contract, frame, spec, y, times, split, split_uri


def train_candidate(
    state: dict[str, Any],
    name: str,
    *,
    store: ObjectStore,
    tables: TableStore,
    model_bucket: str,
    lake_bucket: str,
) -> dict[str, Any]:
    """Fit one candidate on the fit rows (LightGBM with the best trial's parameters, or the
    linear baseline), calibrate it and choose its threshold on the validation rows. The
    workflow trains the candidates in parallel branches; LightGBM's branch also writes the
    feature spec and the drift reference."""
    dataset, run_id = state["dataset"], state["run_id"]
    contract, frame, spec, y, times, split, split_uri = _training_context(
        state, store, tables, lake_bucket
    )
    cfg = contract.training
    regression = spec.task == "regression"
    x = spec.matrix(frame_columns(spec, frame))
    fit_idx, valid_idx = np.asarray(split["fit_rows"]), np.asarray(split["valid_rows"])
    y_valid = y[valid_idx]
    tuned = best_trial(collect_results(state.get("trials"), store))
    prefix = f"{dataset}/runs/{run_id}"
    out: dict[str, Any] = {"name": name}
    if name == "lightgbm":
        params = None
        if tuned:
            params = tuned["params"] | (
                {"num_boost_round": tuned["rounds"]} if tuned.get("rounds") else {}
            )
        fitted, raw_valid = fit_lightgbm(
            x,
            y,
            spec,
            seed=cfg.seed,
            fit_idx=fit_idx,
            valid_idx=valid_idx,
            class_weight=cfg.class_weight,
            params=params,
        )
        text, model_params = fitted.model_text, fitted.params
        # The feature spec and the drift reference (training rows only, LightGBM's scores and gain).
        out["spec_uri"] = s3_uri(model_bucket, f"{prefix}/features.json")
        store.put(out["spec_uri"], spec.to_json().encode(), "application/json")
        booster = LightGBMModel(text)
        gain = booster.importance()
        importance = {
            n: float(g / gain.sum()) if gain.sum() else 0.0
            for n, g in zip(spec.names, gain, strict=True)
        }
        train_idx = np.asarray(split["train_rows"])
        profile_rows = (
            train_idx
            if len(train_idx) <= REFERENCE_ROWS
            else np.sort(
                np.random.default_rng(cfg.seed).choice(train_idx, REFERENCE_ROWS, replace=False)
            )
        )
        reference = build_reference(
            spec, x[profile_rows], booster.predict(x[profile_rows]), importance, seed=cfg.seed
        )
        out["reference_uri"] = s3_uri(model_bucket, f"{prefix}/reference.json")
        store.put(out["reference_uri"], reference.to_json().encode(), "application/json")
        out["importance"] = dict(sorted(importance.items(), key=lambda kv: -kv[1])[:10])
        if regression:
            out["baseline"] = seasonal_baseline(
                y[train_idx], None if times is None else times[train_idx]
            )
    elif name == "linear":
        balanced = (
            False
            if regression
            else (
                bool(tuned["params"].get("is_unbalance"))
                if tuned and cfg.class_weight == "auto"
                else cfg.class_weight == "balanced"
            )
        )
        # The baseline learns from at most LINEAR_ROWS rows: a linear model has few
        # parameters, and past that size more rows only cost time.
        rows = (
            fit_idx
            if len(fit_idx) <= LINEAR_ROWS
            else np.sort(
                np.random.default_rng(cfg.seed).choice(fit_idx, LINEAR_ROWS, replace=False)
            )
        )
        linear = fit_linear(x[rows], y[rows], spec, balanced=balanced)
        text, raw_valid = linear.to_json(), linear.predict(x[valid_idx])
        model_params = {
            "C": 1.0,
            "penalty": "l2",
            "class_weight": "balanced" if balanced else "none",
        }
    else:
        raise ValueError(f"unknown candidate {name!r}")

    if regression:  # values, not probabilities: nothing to calibrate, no threshold
        calibrator, calibrated, threshold, why = Calibrator("none"), raw_valid, 0.0, "regression"
    else:
        calibrator = fit_calibrator(cfg.calibration, raw_valid, y_valid)
        calibrated = calibrator.apply(raw_valid)
        threshold, why = choose_threshold(calibrated, y_valid, cfg.threshold_rule)
    model_uri = s3_uri(model_bucket, f"{prefix}/{name}/{MODEL_FILES[name]}")
    store.put(model_uri, text.encode(), "text/plain" if name == "lightgbm" else "application/json")
    calibration_uri = s3_uri(model_bucket, f"{prefix}/{name}/calibration.json")
    store.put(calibration_uri, calibrator.to_json().encode(), "application/json")
    validation = (
        regression_metrics(y_valid, calibrated)
        if regression
        else {
            k: binary_metrics(y_valid, calibrated, threshold=threshold)[k]
            for k in ("auc", "pr_auc", "brier", "ece")
        }
    )
    out.update(
        model_uri=model_uri,
        calibration_uri=calibration_uri,
        params=model_params,
        calibration=calibrator.method,
        threshold=threshold,
        threshold_reason=why,
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
    return out


def select(results: list[dict[str, Any]], store: ObjectStore) -> dict[str, Any]:
    """Join the parallel candidates and choose one on the validation rows (never the test)."""
    by_name = {r["name"]: r for r in collect_results(results, store)}
    lgbm = by_name["lightgbm"]
    keys = (
        "model_uri",
        "calibration_uri",
        "params",
        "calibration",
        "threshold",
        "threshold_reason",
        "validation",
    )
    candidates = {name: {k: r[k] for k in keys} for name, r in by_name.items()}
    if lgbm["task"] == "regression":
        chosen = min(candidates, key=lambda n: candidates[n]["validation"]["rmse"])
    else:
        chosen = max(candidates, key=lambda n: candidates[n]["validation"]["auc"] or 0.0)
    return {
        "candidates": candidates,
        "chosen": chosen,
        "spec_uri": lgbm["spec_uri"],
        "split_uri": lgbm["split_uri"],
        "split": lgbm["split"],
        "tuning": lgbm["tuning"],
        "reference_uri": lgbm["reference_uri"],
        "importance": lgbm["importance"],
        "rows": lgbm["rows"],
        "baseline": lgbm.get("baseline"),
    }


def train(
    state: dict[str, Any],
    *,
    store: ObjectStore,
    tables: TableStore,
    model_bucket: str,
    lake_bucket: str,
) -> dict[str, Any]:
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
            for name in ("lightgbm", "linear")
        ],
        store,
    )


def load_calibrated(
    store: ObjectStore, kind: str, model_uri: str, calibration_uri: str | None
) -> Model:
    model = load_model(kind, store.get(model_uri))
    if calibration_uri:
        model = CalibratedModel(model, Calibrator.from_json(store.get(calibration_uri)))
    return model


def evaluate(
    state: dict[str, Any],
    *,
    store: ObjectStore,
    tables: TableStore,
    lake_bucket: str,
    model_bucket: str,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """Score the held-out rows once with every candidate (and with the current champion, on
    the same rows), apply the gates to the chosen candidate, write the evaluation report."""
    dataset, run_id = state["dataset"], state["run_id"]
    contract = _contract(store, state["contract_uri"])
    trained = state["train"]
    spec = FeatureSpec.from_json(store.get(trained["spec_uri"]))
    # Features are computed on the whole curated file (entity aggregates need the rows before
    # each test row), then only the held-out rows are scored: the test set is touched here once.
    frame = tables.read_parquet(state["curated_uri"])
    test_rows = np.asarray(json.loads(store.get(trained["split_uri"]))["test_rows"], dtype=np.int64)
    x = spec.matrix(frame_columns(spec, frame))[test_rows]
    y = target_vector(spec, frame)[test_rows]
    results: dict[str, dict[str, Any]] = {}
    scores: dict[str, np.ndarray] = {}
    regression = spec.task == "regression"
    for name, cand in trained["candidates"].items():
        model = load_calibrated(store, name, cand["model_uri"], cand.get("calibration_uri"))
        scores[name] = model.predict(x)
        results[name] = (
            regression_metrics(y, scores[name])
            if regression
            else binary_metrics(y, scores[name], threshold=cand["threshold"])
        )
    chosen = trained["chosen"]
    champion = _champion_on(registry, dataset, store, frame, test_rows, y) if registry else None
    slices: dict[str, Any] = {}
    if regression:
        base = trained["baseline"]
        times = _timestamps(contract, frame)
        times = None if times is None else times[test_rows]
        baseline = {
            "name": base["name"],
            **regression_metrics(y, baseline_predict(base, times, len(y))),
        }
        results["baseline"] = baseline
        decision = decide_regression(
            chosen, results, contract.gates, baseline=baseline, champion=champion
        )
    else:
        slices = _slice_metrics(contract, frame.iloc[test_rows], y, scores[chosen])
        decision = decide(chosen, results, contract.gates, champion=champion, slices=slices)

    test_frame = frame.iloc[test_rows]
    chosen_model = load_calibrated(
        store,
        chosen,
        trained["candidates"][chosen]["model_uri"],
        trained["candidates"][chosen].get("calibration_uri"),
    )
    sample = np.arange(min(len(test_rows), 2000))
    contributions = chosen_model.contributions(x[sample])
    shap_summary = dict(
        zip(spec.names, np.abs(contributions).mean(axis=0).round(6).tolist(), strict=True)
    )
    evaluation = {
        "dataset": dataset,
        "run_id": run_id,
        "chosen": chosen,
        "candidates": results,
        "champion": champion,
        "slices": slices,
        "decision": decision.to_dict(),
        "importance": trained.get("importance", {}),
        "shap_mean_abs": shap_summary,
        "task": spec.task,
        "curves": {} if regression else {name: curves(y, scores[name]) for name in scores},
        "thresholds": {
            n: {
                "value": c["threshold"],
                "reason": c["threshold_reason"],
                "calibration": c["calibration"],
            }
            for n, c in trained["candidates"].items()
        },
        "rows": trained["rows"],
        "split": trained["split"],
        "test_positives": None if regression else int(y.sum()),
        "test_rows": int(len(test_frame)),
    }
    base = f"reports/{dataset}/run={run_id}/evaluation"
    evaluation_uri = s3_uri(lake_bucket, f"{base}.json")
    store.put(evaluation_uri, json.dumps(evaluation, indent=1).encode(), "application/json")
    report_uri = s3_uri(model_bucket, f"{dataset}/runs/{run_id}/report.html")
    store.put(report_uri, evaluation_html(evaluation).encode(), "text/html")
    card_uri = s3_uri(model_bucket, f"{dataset}/runs/{run_id}/model_card.md")
    store.put(card_uri, model_card(evaluation, contract).encode(), "text/markdown")
    logger.info(
        "candidates evaluated",
        extra={"dataset": dataset, "run_id": run_id, "decision": decision.to_dict()},
    )
    return {
        "promote": decision.promote,
        "winner": chosen,
        "metrics": _summary(results[chosen]),
        "all_metrics": {
            n: (
                {"rmse": m["rmse"], "r2": m["r2"]}
                if regression
                else {"auc": m["auc"], "pr_auc": m["pr_auc"]}
            )
            for n, m in results.items()
        },
        "gates": decision.to_dict()["gates"],
        "failed_gates": decision.failed,
        "threshold": trained["candidates"][chosen]["threshold"],
        "evaluation_uri": evaluation_uri,
        "report_uri": report_uri,
        "model_card_uri": card_uri,
    }


def seasonal_baseline(y: np.ndarray, times: np.ndarray | None) -> dict[str, Any]:
    """The naive forecast a model must beat: the training mean per calendar month when the data
    has a timestamp (seasonality), the overall training mean otherwise."""
    mean = float(np.mean(y))
    if times is None:
        return {"name": "mean", "mean": mean, "by_month": {}}
    months = times.astype("datetime64[M]").astype(int) % 12 + 1
    return {
        "name": "seasonal_mean",
        "mean": mean,
        "by_month": {str(m): float(np.mean(y[months == m])) for m in np.unique(months)},
    }


def baseline_predict(baseline: dict[str, Any], times: np.ndarray | None, n: int) -> np.ndarray:
    if times is None or not baseline["by_month"]:
        return np.full(n, baseline["mean"])
    months = times.astype("datetime64[M]").astype(int) % 12 + 1
    return np.array([baseline["by_month"].get(str(m), baseline["mean"]) for m in months])


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    if "rmse" in m:
        return {k: m.get(k) for k in REGRESSION_SUMMARY}
    return {k: m[k] for k in (*BINARY_SUMMARY, "confusion_matrix")}


def _champion_on(
    registry: Registry,
    dataset: str,
    store: ObjectStore,
    frame: Any,
    test_rows: np.ndarray,
    y: np.ndarray,
) -> dict[str, Any] | None:
    """The current champion scored on this run's test rows, if it can read them."""
    current = registry.champion(dataset)
    if current is None:
        return None
    spec = FeatureSpec.from_json(store.get(current.spec_uri))
    missing = [f.name for f in spec.fields if f.name not in frame.columns]
    if missing:
        return {
            "version": current.version,
            "comparable": False,
            "reason": f"its inputs {missing} are not in this data",
        }
    model = load_calibrated(store, current.kind, current.model_uri, current.calibration_uri)
    x = spec.matrix(frame_columns(spec, frame))[test_rows]
    if spec.task == "regression":
        return {
            "version": current.version,
            "comparable": True,
            **regression_metrics(y, model.predict(x)),
        }
    m = binary_metrics(y, model.predict(x), threshold=current.threshold)
    return {"version": current.version, "comparable": True, "auc": m["auc"], "pr_auc": m["pr_auc"]}


def _slice_metrics(
    contract: Contract, test_frame: Any, y: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    """AUC per group of each declared slice column, on the test rows."""
    out: dict[str, Any] = {}
    for column in contract.gates.slices:
        if column not in test_frame.columns:
            out[column] = {"error": f"column {column!r} is not in the curated data"}
            continue
        groups = {}
        values = test_frame[column].astype(str).to_numpy()
        for value in sorted(set(values.tolist())):
            mask = values == value
            auc = (
                roc_auc(y[mask], scores[mask])
                if mask.sum() >= contract.gates.min_slice_rows
                else None
            )
            groups[value] = {
                "rows": int(mask.sum()),
                "positives": int(y[mask].sum()),
                "auc": None if auc is None else round(auc, 6),
            }
        out[column] = groups
    return out


def curves(y: np.ndarray, scores: np.ndarray, points: int = 50) -> dict[str, list[float]]:
    """ROC, precision-recall and reliability curves, down-sampled for the report."""
    thresholds = np.quantile(scores, np.linspace(0, 1, points))[::-1]
    y = y.astype(bool)
    tpr, fpr, precision = [], [], []
    for t in thresholds:
        pred = scores >= t
        tp, fp = (pred & y).sum(), (pred & ~y).sum()
        tpr.append(float(tp / max(y.sum(), 1)))
        fpr.append(float(fp / max((~y).sum(), 1)))
        precision.append(float(tp / max(tp + fp, 1)))
    bins = np.minimum((scores * 10).astype(int), 9)
    predicted = [float(scores[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    observed = [float(y[bins == b].mean()) if (bins == b).any() else None for b in range(10)]
    return {
        "fpr": [0.0, *fpr, 1.0],
        "tpr": [0.0, *tpr, 1.0],
        "recall": tpr,
        "precision": precision,
        "predicted": predicted,
        "observed": observed,
    }


def promote(
    state: dict[str, Any],
    *,
    store: ObjectStore,
    registry: Registry,
    model_bucket: str,
    code_version: str,
) -> dict[str, Any]:
    dataset, run_id = state["dataset"], state["run_id"]
    trained, evaluation = state["train"], state["evaluation"]
    winner = evaluation["winner"]
    contract = _contract(store, state["contract_uri"])
    current = registry.champion(dataset)
    version = registry.next_version(dataset)
    prefix = f"{dataset}/v{version}"
    model_bytes = store.get(trained["candidates"][winner]["model_uri"])
    model_uri = s3_uri(model_bucket, f"{prefix}/{MODEL_FILES[winner]}")
    store.put(model_uri, model_bytes)
    spec_bytes = store.get(trained["spec_uri"])
    spec_uri = s3_uri(model_bucket, f"{prefix}/features.json")
    store.put(spec_uri, spec_bytes, "application/json")
    reference_uri = s3_uri(model_bucket, f"{prefix}/reference.json")
    store.put(reference_uri, store.get(trained["reference_uri"]), "application/json")
    calibration_uri = s3_uri(model_bucket, f"{prefix}/calibration.json")
    store.put(
        calibration_uri,
        store.get(trained["candidates"][winner]["calibration_uri"]),
        "application/json",
    )
    report_uri = s3_uri(model_bucket, f"{prefix}/report.html")
    store.put(report_uri, store.get(evaluation["report_uri"]), "text/html")
    card_uri = s3_uri(model_bucket, f"{prefix}/model_card.md")
    store.put(card_uri, store.get(evaluation["model_card_uri"]), "text/markdown")
    metadata = {
        "dataset": dataset,
        "version": version,
        "kind": winner,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "lineage": {
            "source_uri": state.get("source_uri"),
            "source_sha256": state.get("source_sha256"),
            "curated_uri": state["curated_uri"],
            "contract_sha256": contract.fingerprint(),
            "feature_spec_sha256": hashlib.sha256(spec_bytes).hexdigest(),
            "code_version": code_version,
        },
        "params": trained["candidates"][winner]["params"],
        "metrics": evaluation["metrics"],
        "all_candidates": evaluation["all_metrics"],
        "gates": evaluation["gates"],
        "threshold": evaluation["threshold"],
        "threshold_reason": trained["candidates"][winner]["threshold_reason"],
        "calibration": trained["candidates"][winner]["calibration"],
        "report_uri": report_uri,
        "model_card_uri": card_uri,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "rows": trained["rows"],
    }
    metadata_uri = s3_uri(model_bucket, f"{prefix}/metadata.json")
    store.put(metadata_uri, json.dumps(metadata, indent=1).encode(), "application/json")
    registry.put_version(
        ModelVersion(
            dataset=dataset,
            version=version,
            kind=winner,
            model_uri=model_uri,
            sha256=metadata["model_sha256"],
            spec_uri=spec_uri,
            reference_uri=reference_uri,
            metadata_uri=metadata_uri,
            threshold=evaluation["threshold"],
            calibration_uri=calibration_uri,
            metrics=evaluation["metrics"],
            run_id=run_id,
            created_at=datetime.now(UTC),
        )
    )
    registry.set_champion(dataset, version, expected=current.version if current else None)
    logger.info(
        "champion promoted",
        extra={
            "dataset": dataset,
            "version": version,
            "kind": winner,
            "previous": current.version if current else None,
        },
    )
    return {
        "version": version,
        "model_uri": model_uri,
        "metadata_uri": metadata_uri,
        "report_uri": report_uri,
        "model_card_uri": card_uri,
        "previous_version": current.version if current else None,
    }


def notify(
    event: dict[str, Any], *, store: ObjectStore, mailer: Mailer, recipients: list[str]
) -> dict[str, Any]:
    kind, run = event["kind"], event["run"]
    dataset, run_id = run.get("dataset", "?"), run.get("run_id", "?")
    try:
        contract = _contract(store, run["contract_uri"])
        recipients = contract.notify or recipients
    except Exception:  # the failure being reported may be the contract itself
        pass
    if kind == "promoted":
        ev, pr = run["evaluation"], run["promotion"]
        email = emails.model_promoted(
            dataset,
            pr["version"],
            ev["winner"],
            ev["metrics"],
            ev["gates"],
            pr["model_uri"],
            run_id,
            pr.get("report_uri", ""),
            pr.get("model_card_uri", ""),
        )
    elif kind == "rejected":
        ev = run["evaluation"]
        email = emails.model_rejected(
            dataset,
            ev["winner"],
            ev["metrics"],
            ev["gates"],
            run_id,
            ev["evaluation_uri"],
            ev.get("report_uri", ""),
        )
    elif kind == "failed":
        err = run.get("error") or {}
        cause = err.get("Cause", "")
        with contextlib.suppress(ValueError, AttributeError):  # Lambda errors: JSON in Cause
            cause = json.loads(cause).get("errorMessage", cause)
        email = emails.run_failed(
            dataset,
            run_id,
            run.get("failed_step", "unknown"),
            err.get("Error", "unknown"),
            str(cause),
        )
    else:
        raise ValueError(f"unknown notification kind {kind!r}")
    message_id = mailer.send(email, recipients)
    logger.info(
        "notification sent",
        extra={"dataset": dataset, "run_id": run_id, "kind": kind, "subject": email.subject},
    )
    return {"message_id": message_id, "subject": email.subject}
