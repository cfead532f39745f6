"""The ingest use case: one dropped file -> validation report, quarantine, curated Parquet,
and a training run; or a rejection report and email. The raw file is never changed."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from tabflow import emails, pii
from tabflow.contract import Contract, parse_contract
from tabflow.errors import ContractError, ObjectNotFound, SchemaError
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, TableStore, Workflow, s3_uri
from tabflow.readers import read_table
from tabflow.reports import validation_html
from tabflow.validation import validate


@dataclass(frozen=True)
class IngestConfig:
    raw_bucket: str
    lake_bucket: str
    recipients: list[str]
    max_file_bytes: int


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # accepted | rejected | ignored
    dataset: str
    run_id: str
    report_uri: str
    counts: dict[str, int]
    execution_arn: str | None = None
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dataset": self.dataset,
            "run_id": self.run_id,
            "report_uri": self.report_uri,
            "counts": self.counts,
            "execution_arn": self.execution_arn,
            "problems": list(self.problems),
        }


def dataset_from_key(key: str) -> str | None:
    """incoming/<dataset>/<file...> -> dataset; anything else -> None."""
    parts = unquote_plus(key).split("/")
    if len(parts) < 3 or parts[0] != "incoming" or not parts[1] or not parts[-1]:
        return None
    return parts[1]


def run_id_for(key: str, etag: str) -> str:
    """Deterministic: the same object delivered twice gets the same run id (and execution name)."""
    return "r-" + hashlib.sha256(f"{key}|{etag}".encode()).hexdigest()[:20]


def ingest_object(
    *,
    key: str,
    etag: str,
    size: int,
    config: IngestConfig,
    store: ObjectStore,
    tables: TableStore,
    workflow: Workflow,
    mailer: Mailer,
    pii_salt: Callable[[], str] = lambda: "",
) -> IngestOutcome:
    """``pii_salt`` is called only when the contract hashes a column (it reads a secret)."""
    key = unquote_plus(key)
    dataset = dataset_from_key(key)
    raw_uri = s3_uri(config.raw_bucket, key)
    if dataset is None:
        logger.warning("ignored object outside incoming/<dataset>/", extra={"key": key})
        return IngestOutcome("ignored", "", "", "", {})
    run_id = run_id_for(key, etag)
    base = f"{dataset}/run={run_id}"
    report_uri = s3_uri(config.lake_bucket, f"reports/{base}/validation.json")
    report: dict[str, Any] = {
        "dataset": dataset,
        "file": raw_uri,
        "run_id": run_id,
        "received_at": datetime.now(UTC).isoformat(),
        "size_bytes": size,
    }
    log = {"dataset": dataset, "run_id": run_id, "file": raw_uri}

    def reject(
        problems: list[str], counts: dict[str, int] | None = None, contract: Contract | None = None
    ) -> IngestOutcome:
        report.update(status="rejected", problems=problems, counts=counts or {})
        _write_report(store, report_uri, report)
        recipients = (contract.notify if contract and contract.notify else []) or config.recipients
        mailer.send(
            emails.file_rejected(dataset, raw_uri, problems, report_uri, counts), recipients
        )
        logger.warning("file rejected", extra=log | {"problems": problems[:5]})
        return IngestOutcome(
            "rejected", dataset, run_id, report_uri, counts or {}, None, tuple(problems)
        )

    try:
        contract = load_contract(store, config.raw_bucket, dataset)
    except ContractError as exc:
        return reject([str(exc)])
    if size > config.max_file_bytes:
        return reject(
            [f"{key}: {size} bytes is above the limit of {config.max_file_bytes} bytes"],
            contract=contract,
        )

    data = store.get(raw_uri)
    report["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        raw = read_table(
            data, name=key, encoding=contract.format.encoding, delimiter=contract.format.delimiter
        )
        salt = pii_salt() if any(c.pii == "hash" for c in contract.columns.values()) else ""
        result = validate(raw, contract, file=key, salt=salt)
    except SchemaError as exc:
        return reject(exc.problems, contract=contract)

    report.update(
        counts=result.counts,
        columns=pii.redact_summaries(result.columns, pii.policy(contract.columns)),
        ignored_columns=result.ignored_columns,
        renamed_headers=result.headers,
        warnings=result.warnings,
        format={"type": raw.fmt, "encoding": raw.encoding, "delimiter": raw.delimiter},
    )
    if result.quarantined:
        quarantine_uri = s3_uri(config.raw_bucket, f"quarantine/{base}/rejected_rows.jsonl")
        store.put(
            quarantine_uri,
            "\n".join(json.dumps(r) for r in result.quarantined).encode(),
            "application/x-ndjson",
        )
        report["quarantine_uri"] = quarantine_uri
    if len(result.duplicates):
        dup_uri = s3_uri(config.raw_bucket, f"quarantine/{base}/duplicates.jsonl")
        store.put(
            dup_uri,
            result.duplicates.to_json(orient="records", lines=True).encode(),
            "application/x-ndjson",
        )
        report["duplicates_uri"] = dup_uri

    if result.bad_share > contract.max_bad_row_share:
        problem = (
            f"{result.counts['quarantined']} of {result.counts['rows_in']} rows are invalid "
            f"({result.bad_share:.1%}), above the contract's limit of {contract.max_bad_row_share:.0%}"
        )
        return reject([problem], result.counts, contract)
    if result.counts["curated"] == 0:
        return reject(["no valid rows left after validation"], result.counts, contract)

    curated_uri = s3_uri(config.lake_bucket, f"curated/{base}/data.parquet")
    tables.write_parquet(result.curated, curated_uri)
    report.update(status="accepted", curated_uri=curated_uri)
    _write_report(store, report_uri, report)

    payload = {
        "dataset": dataset,
        "run_id": run_id,
        "curated_uri": curated_uri,
        "contract_uri": contract_uri(config.raw_bucket, dataset),
        "report_uri": report_uri,
        "source_uri": raw_uri,
        "source_sha256": report["sha256"],
        "counts": result.counts,
    }
    arn = workflow.start(run_id, payload)
    logger.info(
        "file accepted, training started", extra=log | {"counts": result.counts, "execution": arn}
    )
    return IngestOutcome("accepted", dataset, run_id, report_uri, result.counts, arn)


def contract_uri(raw_bucket: str, dataset: str) -> str:
    return s3_uri(raw_bucket, f"contracts/{dataset}.yaml")


def load_contract(store: ObjectStore, raw_bucket: str, dataset: str) -> Contract:
    uri = contract_uri(raw_bucket, dataset)
    try:
        text = store.get(uri)
    except ObjectNotFound:
        raise ContractError(f"no contract for dataset {dataset!r}: upload one to {uri}") from None
    contract = parse_contract(text, source=uri)
    if contract.dataset != dataset:
        raise ContractError(f"{uri}: declares dataset {contract.dataset!r}, expected {dataset!r}")
    return contract


def _write_report(store: ObjectStore, uri: str, report: dict[str, Any]) -> None:
    store.put(uri, json.dumps(report, indent=1, default=str).encode(), "application/json")
    store.put(uri.removesuffix(".json") + ".html", validation_html(report).encode(), "text/html")
