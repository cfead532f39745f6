"""The ingest use case: one dropped file -> validation report, quarantine, curated Parquet,
and a training run; or a rejection report and email. The raw file is never changed.

Every way a file can be refused ends in ``reject_file`` (a report, an email, a log line),
never in an unhandled error: an invalid dataset name in the key, a missing or invalid
contract, an object over the size limit, an unsupported file type, an unreadable, empty or
binary file, content over the decompressed-size limit, a schema mismatch, too many bad rows,
no valid row, and any unexpected error while reading or validating the bytes (it would fail
the same way on a retry). Only AWS failures (TransientError and the like) propagate, so
that Lambda retries them."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from tabflow import emails, pii
from tabflow.contract import Contract, parse_contract
from tabflow.errors import (
    ContractError,
    InvalidDatasetName,
    ObjectChanged,
    ObjectNotFound,
    SchemaError,
    TabflowError,
)
from tabflow.limits import DEFAULT_MAX_BYTES
from tabflow.naming import check_dataset_name, shown
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, TableStore, Workflow, s3_uri
from tabflow.quarantine import write_quarantine
from tabflow.readers import read_table
from tabflow.recipients import RecipientPolicy
from tabflow.reports import validation_html
from tabflow.validation import validate
from tabflow.workflow.payloads import start_payload

# Where the report of a file whose dataset name is invalid goes: the name cannot be part of
# a key, and no valid dataset name starts with "_".
REJECTED_NAME_PREFIX = "_rejected"
MAX_CONTRACT_BYTES = 4 << 20


@dataclass(frozen=True)
class IngestConfig:
    raw_bucket: str
    lake_bucket: str
    recipients: list[str]  # AlertRecipients: always allowed, and the fallback
    max_file_bytes: int
    max_decompressed_bytes: int = DEFAULT_MAX_BYTES
    allowed_domains: tuple[str, ...] = ()  # AllowedRecipientDomains

    @property
    def policy(self) -> RecipientPolicy:
        return RecipientPolicy.of(self.recipients, self.allowed_domains)


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # accepted | rejected | ignored | skipped (replaced before it was read)
    dataset: str
    run_id: str
    report_uri: str
    counts: dict[str, int]
    execution_arn: str | None = None
    problems: tuple[str, ...] = ()
    file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "file": self.file,
            "dataset": self.dataset,
            "run_id": self.run_id,
            "report_uri": self.report_uri,
            "counts": self.counts,
            "execution_arn": self.execution_arn,
            "problems": list(self.problems),
        }


def split_drop_key(key: str, prefix: str) -> tuple[str, str] | None:
    """<prefix>/<dataset>/<file...> (a decoded key) -> (dataset, file name), the dataset not
    yet checked; anything else -> None."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != prefix or not parts[-1]:
        return None
    return parts[1], parts[-1]


def dataset_from_key(key: str) -> str | None:
    """incoming/<dataset>/<file...> -> dataset (unchecked); anything else -> None."""
    found = split_drop_key(unquote_plus(key), "incoming")
    return found[0] if found and found[0] else None


def run_id_for(key: str, etag: str) -> str:
    """Deterministic: the same object delivered twice gets the same run id (and execution name)."""
    return "r-" + hashlib.sha256(f"{key}|{etag}".encode()).hexdigest()[:20]


def report_prefix(dataset: str) -> str:
    """reports/<dataset>, or a fixed place when the name is not a valid dataset name."""
    try:
        return f"reports/{check_dataset_name(dataset)}"
    except InvalidDatasetName:
        return f"reports/{REJECTED_NAME_PREFIX}"


def reject_file(
    *,
    store: ObjectStore,
    mailer: Mailer,
    policy: RecipientPolicy,
    report: dict[str, Any],
    report_uri: str,
    problems: list[str],
    counts: dict[str, int] | None = None,
    contract: Contract | None = None,
) -> None:
    """The one way a dropped file is refused: the report (stored first), the email to the
    contract's notify list as the recipient policy allows it (else the AlertRecipients),
    and a structured log. A failing email is logged, not raised (the report is there),
    unless SES is only throttling: then Lambda retries the whole event."""
    recipients = policy.resolve(contract.notify if contract and contract.notify else [])
    report.update(
        status="rejected",
        problems=problems,
        counts=counts or report.get("counts") or {},
        emailed_to=recipients.to,
        not_emailed_to=[str(d) for d in recipients.dropped],
    )
    write_report(store, report_uri, report)
    log = {k: report.get(k) for k in ("dataset", "run_id", "file")}
    if recipients.dropped:
        logger.warning(
            "notify recipients dropped by the recipient policy",
            extra=log | {"dropped": report["not_emailed_to"]},
        )
    logger.warning("file rejected", extra=log | {"problems": [p[:500] for p in problems[:5]]})
    email = emails.file_rejected(
        str(report.get("dataset", "")),
        str(report.get("file", "")),
        problems,
        report_uri,
        counts,
        not_sent_to=report["not_emailed_to"],
    )
    try:
        mailer.send(email, recipients.to)
    except TabflowError:
        raise  # TransientError: throttled, worth the retry
    except Exception:
        logger.exception(
            "the rejection email could not be sent", extra=log | {"report": report_uri}
        )


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
    key = unquote_plus(key)
    raw_uri = s3_uri(config.raw_bucket, key)
    found = split_drop_key(key, "incoming")
    if found is None:
        logger.warning("ignored object outside incoming/<dataset>/", extra={"key": key})
        return IngestOutcome("ignored", "", "", "", {}, file=raw_uri)
    dataset = found[0]
    run_id = run_id_for(key, etag)
    base = f"{dataset}/run={run_id}"
    report_uri = s3_uri(
        config.lake_bucket, f"{report_prefix(dataset)}/run={run_id}/validation.json"
    )
    report: dict[str, Any] = {
        "dataset": dataset,
        "file": raw_uri,
        "run_id": run_id,
        "received_at": datetime.now(UTC).isoformat(),
        "size_bytes": size,
        **({"version_id": version} if version else {}),
    }
    log = {"dataset": dataset, "run_id": run_id, "file": raw_uri}

    def reject(
        problems: list[str], counts: dict[str, int] | None = None, contract: Contract | None = None
    ) -> IngestOutcome:
        reject_file(
            store=store,
            mailer=mailer,
            policy=config.policy,
            report=report,
            report_uri=report_uri,
            problems=problems,
            counts=counts,
            contract=contract,
        )
        return IngestOutcome(
            "rejected",
            str(report["dataset"]),
            run_id,
            report_uri,
            counts or {},
            None,
            tuple(problems),
            raw_uri,
        )

    try:
        check_dataset_name(dataset)
    except InvalidDatasetName as exc:
        report["dataset"] = shown(dataset)  # the name as it may be shown, not as it came
        return reject([f"{shown(key, 200)}: {exc}"])
    try:
        contract = load_contract(store, config.raw_bucket, dataset)
    except ContractError as exc:
        return reject([str(exc)])
    too_big = size_problem(key, size, config.max_file_bytes, config.max_decompressed_bytes)
    if too_big:
        return reject([too_big], contract=contract)

    salt = pii_salt() if any(c.pii == "hash" for c in contract.columns.values()) else ""
    try:
        data = store.get_exact(raw_uri, version=version, etag=etag or None)
    except ObjectChanged:
        return skipped_replaced(raw_uri, etag, log)
    try:
        report["sha256"] = hashlib.sha256(data).hexdigest()
        raw = read_table(
            data,
            name=key,
            encoding=contract.format.encoding,
            delimiter=contract.format.delimiter,
            max_bytes=config.max_decompressed_bytes,
        )
        del data
        result = validate(raw, contract, file=key, salt=salt)
    except SchemaError as exc:
        return reject(exc.problems, contract=contract)
    except TabflowError:
        # AWS trouble (TransientError; ObjectNotFound: deleted before it was read): Lambda
        # retries the event, then sends it to the dead-letter queue
        raise
    except Exception as exc:  # deterministic on these bytes: a retry would fail the same way
        logger.exception("file could not be read or validated", extra=log)
        return reject([unexpected_problem(key, exc)], contract=contract)

    report.update(
        counts=result.counts,
        columns=pii.redact_summaries(result.columns, pii.policy(contract.columns)),
        ignored_columns=result.ignored_columns,
        renamed_headers=result.headers,
        warnings=result.warnings,
        format={"type": raw.fmt, "encoding": raw.encoding, "delimiter": raw.delimiter},
    )
    report.update(
        write_quarantine(
            store,
            s3_uri(config.raw_bucket, f"quarantine/{base}"),
            result.quarantined,
            result.duplicates,
        )
    )

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
    write_report(store, report_uri, report)

    payload = start_payload(
        dataset=dataset,
        run_id=run_id,
        curated_uri=curated_uri,
        contract_uri=contract_uri(config.raw_bucket, dataset),
        report_uri=report_uri,
        source_uri=raw_uri,
        source_sha256=report["sha256"],
        counts=result.counts,
    )
    arn = workflow.start(run_id, payload)
    logger.info(
        "file accepted, training started", extra=log | {"counts": result.counts, "execution": arn}
    )
    return IngestOutcome("accepted", dataset, run_id, report_uri, result.counts, arn, file=raw_uri)


def skipped_replaced(raw_uri: str, etag: str, log: dict[str, Any]) -> IngestOutcome:
    """The event's object was overwritten before it was read (and the event carries no
    version to read it by): the newer object has its own event, which processes it."""
    logger.warning(
        "event skipped: the object was replaced after this event; its newer version has its "
        "own event",
        extra=log | {"etag": etag},
    )
    return IngestOutcome(
        "skipped",
        str(log.get("dataset", "")),
        str(log.get("run_id", "")),
        "",
        {},
        problems=(f"{raw_uri}: replaced since the event (ETag {etag} no longer current)",),
        file=raw_uri,
    )


def size_problem(key: str, size: int, max_file_bytes: int, max_content_bytes: int) -> str:
    """The object is refused on its size before it is downloaded: over MAX_FILE_BYTES, or
    over MaxDecompressedBytes already (no format makes its content smaller than its bytes
    by much: gzip and Parquet only grow when read)."""
    if size > max_file_bytes:
        return f"{key}: {size} bytes is above the limit of {max_file_bytes} bytes"
    if size > max_content_bytes:
        return (
            f"{key}: {size} bytes, above the limit of {max_content_bytes} bytes after "
            "decompression (MaxDecompressedBytes): split the file or raise the limit with the "
            "function's memory"
        )
    return ""


def unexpected_problem(key: str, exc: BaseException) -> str:
    return (
        f"{key}: could not be read or validated ({type(exc).__name__}: {str(exc)[:300]}); "
        "the details are in the function's log"
    )


def contract_uri(raw_bucket: str, dataset: str) -> str:
    return s3_uri(raw_bucket, f"contracts/{dataset}.yaml")


def load_contract(store: ObjectStore, raw_bucket: str, dataset: str) -> Contract:
    uri = contract_uri(raw_bucket, check_dataset_name(dataset))
    try:
        text = store.get(uri)
    except ObjectNotFound:
        raise ContractError(f"no contract for dataset {dataset!r}: upload one to {uri}") from None
    if len(text) > MAX_CONTRACT_BYTES:
        raise ContractError(
            f"{uri}: {len(text)} bytes, above the {MAX_CONTRACT_BYTES} a contract may have"
        )
    try:
        contract = parse_contract(text, source=uri)
    except ContractError:
        raise
    except (RecursionError, ValueError, TypeError) as exc:  # e.g. YAML nested too deeply
        raise ContractError(f"{uri}: not a valid contract ({type(exc).__name__}: {exc})") from exc
    if contract.dataset != dataset:
        raise ContractError(f"{uri}: declares dataset {contract.dataset!r}, expected {dataset!r}")
    return contract


def write_report(store: ObjectStore, uri: str, report: dict[str, Any]) -> None:
    store.put(uri, json.dumps(report, indent=1, default=str).encode(), "application/json")
    store.put(uri.removesuffix(".json") + ".html", validation_html(report).encode(), "text/html")
