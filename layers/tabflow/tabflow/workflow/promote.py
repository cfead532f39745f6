"""Promote: copy the winner's files to a new immutable version, record its metadata and lineage,
register it and move the champion pointer (a conditional write). Plain Python: no data stack."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore, Registry, s3_uri
from tabflow.workflow.common import load_contract


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
    contract = load_contract(store, state["contract_uri"])
    current = registry.champion(dataset)
    version = registry.next_version(dataset)
    prefix = f"{dataset}/v{version}"
    model_bytes = store.get(trained["candidates"][winner]["model_uri"])
    # the file name the candidate's kind gave it (model.txt, model.json)
    model_file = trained["candidates"][winner]["model_uri"].rsplit("/", 1)[-1]
    model_uri = s3_uri(model_bucket, f"{prefix}/{model_file}")
    store.put(model_uri, model_bytes)
    spec_bytes = store.get(trained["spec_uri"])
    spec_uri = s3_uri(model_bucket, f"{prefix}/features.json")
    store.put(spec_uri, spec_bytes, "application/json")
    reference_uri = s3_uri(model_bucket, f"{prefix}/reference.json")
    store.put(
        reference_uri, store.get(trained["candidates"][winner]["reference_uri"]), "application/json"
    )
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
