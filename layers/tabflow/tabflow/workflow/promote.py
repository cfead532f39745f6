"""Promote: the winner's files become a version that never changes, and the champion.

1. The files are copied under the run's own prefix, ``<dataset>/runs/<run_id>/release/``: no
   other run ever writes there, and the same run writes the same bytes (a retried Promote is
   idempotent), so two promotions at once cannot touch each other's files.
2. The version number is allocated and the champion pointer moved in one conditional
   transaction (``Registry.register``): the number must be free, the run not yet promoted and
   the pointer where we read it. A lost race re-reads and tries again, a few times, then
   raises PromotionConflict (a named error the state machine retries). Nothing is half-done:
   an unregistered release folder is only unreferenced files.
Plain Python: no data stack."""

import hashlib
import json
import random
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tabflow.errors import ConcurrentUpdate, PromotionConflict, RunAlreadyPromoted
from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore, Registry, s3_uri
from tabflow.workflow.common import load_contract
from tabflow.workflow.payloads import Json, PromoteInput, Promotion

ATTEMPTS = 8  # in-place tries before PromotionConflict hands the retry to the state machine


class Copied(NamedTuple):
    """A file copied into the release folder: where, and the SHA-256 of its bytes."""

    uri: str
    sha256: str


def release_prefix(dataset: str, run_id: str) -> str:
    """Where a run's promoted files live (run-scoped: written by this run only)."""
    return f"{dataset}/runs/{run_id}/release"


def promote(
    state: PromoteInput | Json,
    *,
    store: ObjectStore,
    registry: Registry,
    model_bucket: str,
    code_version: str,
    sleep: Any = time.sleep,
) -> Promotion:
    state = PromoteInput.of(state)
    dataset, run_id = state.dataset, state.run_id
    done = registry.version_of_run(dataset, run_id)
    if done is not None:  # a retried Promote after the version was registered
        logger.info("run already promoted", extra={"dataset": dataset, "version": done.version})
        return _output(done)
    record = _write_release(state, store, model_bucket, code_version)
    for attempt in range(1, ATTEMPTS + 1):
        current = registry.champion(dataset)
        expected = current.version if current else None
        version = record.model_copy(
            update={
                "version": registry.latest_version(dataset) + 1,
                "created_at": _now(),
                "replaced": expected,
            }
        )
        try:
            registry.register(version, expected=expected)
        except RunAlreadyPromoted:  # the same run's other attempt won
            mine = registry.version_of_run(dataset, run_id)
            assert mine is not None
            return _output(mine)
        except ConcurrentUpdate as exc:
            logger.info(
                "promotion lost a race; retrying",
                extra={"dataset": dataset, "run_id": run_id, "attempt": attempt, "why": str(exc)},
            )
            sleep(random.uniform(0.01, 0.05) * attempt)
            continue
        logger.info(
            "champion promoted",
            extra={
                "dataset": dataset,
                "version": version.version,
                "kind": version.kind,
                "run_id": run_id,
                "previous": expected,
            },
        )
        return _output(version)
    raise PromotionConflict(
        f"{dataset}: run {run_id} lost the race for a version number {ATTEMPTS} times; "
        "nothing was registered"
    )


def _write_release(
    state: PromoteInput, store: ObjectStore, model_bucket: str, code_version: str
) -> ModelVersion:
    """Copy the winner's files under the run's release prefix and write its metadata; return
    the registry record (its number is allocated at registration). Same run, same bytes."""
    dataset, run_id = state.dataset, state.run_id
    trained, evaluation = state.train, state.evaluation
    winner = evaluation.winner
    chosen = trained.candidates[winner]
    contract = load_contract(store, state.contract_uri)
    prefix = release_prefix(dataset, run_id)

    def copy(source_uri: str, name: str, content_type: str) -> Copied:
        data = store.get(source_uri)
        uri = s3_uri(model_bucket, f"{prefix}/{name}")
        store.put(uri, data, content_type)
        return Copied(uri, hashlib.sha256(data).hexdigest())

    # the file name the candidate's kind gave it (model.txt, model.json)
    model_file = chosen.model_uri.rsplit("/", 1)[-1]
    model = copy(chosen.model_uri, model_file, "application/octet-stream")
    spec = copy(trained.spec_uri, "features.json", "application/json")
    reference = copy(chosen.reference_uri, "reference.json", "application/json")
    calibration = copy(chosen.calibration_uri, "calibration.json", "application/json")
    report = copy(evaluation.report_uri, "report.html", "text/html")
    card = copy(evaluation.model_card_uri, "model_card.md", "text/markdown")
    # Deterministic for the run (no timestamp: the registry records when it was promoted),
    # so a retried Promote rewrites the same bytes. The version number is the registry's.
    metadata = {
        "dataset": dataset,
        "kind": winner,
        "run_id": run_id,
        "lineage": {
            "source_uri": state.source_uri,
            "source_sha256": state.source_sha256,
            "curated_uri": state.curated_uri,
            "contract_sha256": contract.fingerprint(),
            "feature_spec_sha256": spec.sha256,
            "code_version": code_version,
        },
        "params": chosen.params,
        "metrics": evaluation.metrics,
        "all_candidates": evaluation.all_metrics,
        "gates": evaluation.gates,
        "threshold": evaluation.threshold,
        "threshold_reason": chosen.threshold_reason,
        "calibration": chosen.calibration,
        "report_uri": report.uri,
        "model_card_uri": card.uri,
        "model_sha256": model.sha256,
        "calibration_sha256": calibration.sha256,
        "rows": trained.rows.model_dump(),
    }
    metadata_uri = s3_uri(model_bucket, f"{prefix}/metadata.json")
    store.put(metadata_uri, json.dumps(metadata, indent=1).encode(), "application/json")
    return ModelVersion(
        dataset=dataset,
        version=0,  # allocated at registration
        kind=winner,
        model_uri=model.uri,
        sha256=model.sha256,
        spec_uri=spec.uri,
        spec_sha256=spec.sha256,
        reference_uri=reference.uri,
        metadata_uri=metadata_uri,
        threshold=evaluation.threshold,
        calibration_uri=calibration.uri,
        calibration_sha256=calibration.sha256,
        metrics=evaluation.metrics,
        run_id=run_id,
        created_at=_now(),
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _output(version: ModelVersion) -> Promotion:
    metadata_dir = version.metadata_uri.rsplit("/", 1)[0]  # the release folder
    return Promotion(
        version=version.version,
        run_id=version.run_id,
        model_uri=version.model_uri,
        metadata_uri=version.metadata_uri,
        report_uri=f"{metadata_dir}/report.html",
        model_card_uri=f"{metadata_dir}/model_card.md",
        previous_version=version.replaced,
    )
