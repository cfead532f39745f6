"""The ingest use case: one dropped file -> validation report, quarantine, curated Parquet,
and a training run; or a rejection report and email (tabflow.intake, shared with batch
scoring). The raw file is never changed."""

from collections.abc import Callable
from urllib.parse import unquote_plus

from tabflow.errors import ObjectChanged
from tabflow.intake import (
    DropConfig,
    DroppedObject,
    IngestOutcome,
    Refused,
    contract_uri,
    open_drop,
    take_in,
    write_report,
)
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, TableStore, Workflow, s3_uri
from tabflow.workflow.payloads import start_payload

__all__ = ["IngestConfig", "IngestOutcome", "ingest_object"]


class IngestConfig(DropConfig):
    """The ingest's limits and recipients (tabflow.intake.DropConfig)."""


def ingest_object(
    *,
    key: str,
    etag: str,
    size: int,
    config: IngestConfig,
    version: str | None = None,
    store: ObjectStore,
    tables: TableStore,
    workflow: Workflow,
    mailer: Mailer,
    pii_salt: Callable[[], str] = lambda: "",
) -> IngestOutcome:
    """``pii_salt`` is called only when the contract hashes a column (it reads a secret).
    ``version`` and ``etag`` name the object the event is about: that version is read (or,
    without a version, the current object only if its ETag still matches), so an overwrite
    between the event and the read never processes other bytes under this event's run."""
    obj = DroppedObject(key, etag, size, version)
    drop = open_drop(obj, "incoming", config, store, mailer)
    if drop is None:
        decoded = unquote_plus(key)
        logger.warning("ignored object outside incoming/<dataset>/", extra={"key": decoded})
        return IngestOutcome("ignored", "", "", "", {}, file=s3_uri(config.raw_bucket, decoded))

    def rejected(refused: Refused) -> IngestOutcome:
        return IngestOutcome(
            "rejected",
            str(drop.report["dataset"]),
            drop.run_id,
            drop.report_uri,
            refused.counts,
            None,
            tuple(refused.problems),
            drop.raw_uri,
        )

    try:
        taken = take_in(drop, pii_salt)
        contract, result = taken.contract, taken.result
        if result.bad_share > contract.max_bad_row_share:
            problem = (
                f"{result.counts['quarantined']} of {result.counts['rows_in']} rows are invalid "
                f"({result.bad_share:.1%}), above the contract's limit of "
                f"{contract.max_bad_row_share:.0%}"
            )
            drop.refuse([problem], result.counts, contract)
        if result.counts["curated"] == 0:
            drop.refuse(["no valid rows left after validation"], result.counts, contract)
    except Refused as refused:
        return rejected(refused)
    except ObjectChanged:
        return drop.skipped()

    dataset, run_id, report = drop.dataset, drop.run_id, drop.report
    curated_uri = s3_uri(config.lake_bucket, f"curated/{drop.place}/data.parquet")
    tables.write_parquet(result.curated, curated_uri)
    report.update(status="accepted", curated_uri=curated_uri)
    write_report(store, drop.report_uri, report)

    payload = start_payload(
        dataset=dataset,
        run_id=run_id,
        curated_uri=curated_uri,
        contract_uri=contract_uri(config.raw_bucket, dataset),
        report_uri=drop.report_uri,
        source_uri=drop.raw_uri,
        source_sha256=report["sha256"],
        counts=result.counts,
    )
    arn = workflow.start(run_id, payload)
    logger.info(
        "file accepted, training started",
        extra=drop.log | {"counts": result.counts, "execution": arn},
    )
    return IngestOutcome(
        "accepted", dataset, run_id, drop.report_uri, result.counts, arn, file=drop.raw_uri
    )
