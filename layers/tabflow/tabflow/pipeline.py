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
from tabflow.contract import Contract, parse_contract
from tabflow.drift import build_reference
from tabflow.features import FeatureSpec
from tabflow.gates import decide
from tabflow.metrics import binary_metrics
from tabflow.observability import logger
from tabflow.ports import Mailer, ModelVersion, ObjectStore, Registry, TableStore, s3_uri
from tabflow.scoring import LightGBMModel, load_model
from tabflow.training import (
    build_feature_spec,
    fit_lightgbm,
    fit_linear,
    frame_columns,
    stratified_split,
    target_vector,
    time_split,
)

MODEL_FILES = {"lightgbm": "model.txt", "linear": "model.json"}


def _contract(store: ObjectStore, uri: str) -> Contract:
    return parse_contract(store.get(uri), source=uri)


def train(
    state: dict[str, Any],
    *,
    store: ObjectStore,
    tables: TableStore,
    model_bucket: str,
    lake_bucket: str,
) -> dict[str, Any]:
    dataset, run_id = state["dataset"], state["run_id"]
    contract = _contract(store, state["contract_uri"])
    frame = tables.read_parquet(state["curated_uri"])
    spec = build_feature_spec(contract, frame)
    y = target_vector(spec, frame)
    if len(np.unique(y)) < 2:
        raise ValueError(f"{dataset}: the target {spec.target!r} has a single class; cannot train")
    if contract.timestamp_column:
        times = frame[contract.timestamp_column].to_numpy(dtype="datetime64[ns]")
        train_idx, test_idx = time_split(times, contract.training.test_size)
        split_kind = "time"
    else:
        train_idx, test_idx = stratified_split(
            y, contract.training.test_size, contract.training.seed
        )
        split_kind = "stratified"
    x = spec.matrix(frame_columns(spec, frame))
    seed = contract.training.seed

    run_prefix = f"{dataset}/runs/{run_id}"
    candidates: dict[str, dict[str, Any]] = {}
    lgbm = fit_lightgbm(x[train_idx], y[train_idx], spec, seed=seed)
    uri = s3_uri(model_bucket, f"{run_prefix}/lightgbm/{MODEL_FILES['lightgbm']}")
    store.put(uri, lgbm.model_text.encode(), "text/plain")
    candidates["lightgbm"] = {"model_uri": uri, "params": lgbm.params}
    linear = fit_linear(x[train_idx], y[train_idx], spec, seed=seed)
    uri = s3_uri(model_bucket, f"{run_prefix}/linear/{MODEL_FILES['linear']}")
    store.put(uri, linear.to_json().encode(), "application/json")
    candidates["linear"] = {"model_uri": uri, "params": {"C": 1.0, "penalty": "l2"}}

    spec_uri = s3_uri(model_bucket, f"{run_prefix}/features.json")
    store.put(spec_uri, spec.to_json().encode(), "application/json")
    split_uri = s3_uri(lake_bucket, f"runs/{dataset}/run={run_id}/split.json")
    store.put(
        split_uri,
        json.dumps({"kind": split_kind, "test_rows": test_idx.tolist()}).encode(),
        "application/json",
    )
    # The reference profile for drift: training rows only, scores and gain importance from
    # the fitted LightGBM (so the monitor can weigh features by what the model relies on).
    booster = LightGBMModel(lgbm.model_text)
    train_scores = booster.predict(x[train_idx])
    gain = booster.importance()
    importance = {
        name: float(g / gain.sum()) if gain.sum() else 0.0
        for name, g in zip(spec.names, gain, strict=True)
    }
    reference_uri = s3_uri(model_bucket, f"{run_prefix}/reference.json")
    reference = build_reference(
        spec, x[train_idx], train_scores, importance, seed=contract.training.seed
    )
    store.put(reference_uri, reference.to_json().encode(), "application/json")
    logger.info(
        "candidates trained",
        extra={
            "dataset": dataset,
            "run_id": run_id,
            "train_rows": len(train_idx),
            "test_rows": len(test_idx),
        },
    )
    return {
        "candidates": candidates,
        "spec_uri": spec_uri,
        "split_uri": split_uri,
        "split": split_kind,
        "reference_uri": reference_uri,
        "rows": {"train": int(len(train_idx)), "test": int(len(test_idx))},
    }


def evaluate(
    state: dict[str, Any], *, store: ObjectStore, tables: TableStore, lake_bucket: str
) -> dict[str, Any]:
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
    threshold = contract.training.threshold
    results: dict[str, dict[str, Any]] = {}
    for name, cand in trained["candidates"].items():
        model = load_model(name, store.get(cand["model_uri"]))
        results[name] = binary_metrics(y, model.predict(x), threshold=threshold)
    decision = decide(results, contract.gates)
    evaluation_uri = s3_uri(lake_bucket, f"reports/{dataset}/run={run_id}/evaluation.json")
    store.put(
        evaluation_uri,
        json.dumps(
            {
                "dataset": dataset,
                "run_id": run_id,
                "candidates": results,
                "decision": decision.to_dict(),
            },
            indent=1,
        ).encode(),
        "application/json",
    )
    logger.info(
        "candidates evaluated",
        extra={"dataset": dataset, "run_id": run_id, "decision": decision.to_dict()},
    )
    return {
        "promote": decision.promote,
        "winner": decision.winner,
        "metrics": results[decision.winner],
        "all_metrics": {n: {"auc": m["auc"], "pr_auc": m["pr_auc"]} for n, m in results.items()},
        "gates": decision.to_dict()["gates"],
        "failed_gates": decision.failed,
        "threshold": threshold,
        "evaluation_uri": evaluation_uri,
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
        )
    elif kind == "rejected":
        ev = run["evaluation"]
        email = emails.model_rejected(
            dataset, ev["winner"], ev["metrics"], ev["gates"], run_id, ev["evaluation_uri"]
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
