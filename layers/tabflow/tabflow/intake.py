"""File intake, shared by the ingest (incoming/<dataset>/) and batch scoring (batch/<dataset>/):
a dropped file is read exactly as its event names it, checked against its dataset's contract
and validated, its bad rows quarantined; or it is refused with a report and an email. Each use
case then does its own work with the valid rows (curate and train, or score).

Every way a file can be refused ends in ``Drop.refuse`` (a report, an email, a log line),
never in an unhandled error: an invalid dataset name in the key, a missing or invalid
contract, an object over the size limit, an unsupported file type, an unreadable, empty or
binary file, content over the decompressed-size limit, a schema mismatch, and any unexpected
error while reading or validating the bytes (it would fail the same way on a retry). Only AWS
failures (TransientError and the like) propagate, so that Lambda retries them."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NoReturn
from urllib.parse import unquote_plus

from tabflow import emails, pii
from tabflow.contract import Contract, parse_contract
from tabflow.errors import (
    ContractError,
    InvalidDatasetName,
    ObjectNotFound,
    SchemaError,
    TabflowError,
)
from tabflow.limits import DEFAULT_MAX_BYTES
from tabflow.naming import check_dataset_name, shown
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, s3_uri
from tabflow.quarantine import write_quarantine
from tabflow.readers import RawTable, read_table
from tabflow.recipients import RecipientPolicy
from tabflow.reports import validation_html
from tabflow.validation import ValidationResult, validate

# Where the report of a file whose dataset name is invalid goes: the name cannot be part of
# a key, and no valid dataset name starts with "_".
REJECTED_NAME_PREFIX = "_rejected"
MAX_CONTRACT_BYTES = 4 << 20

Area = Literal["incoming", "batch"]
# per drop area: the run id's prefix and the folder of its report and quarantine (<key>=<id>)
_RUN_PREFIX = {"incoming": "r-", "batch": "b-"}
_RUN_FOLDER = {"incoming": "run", "batch": "batch"}


@dataclass(frozen=True)
class DropConfig:
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
        return asdict(self) | {"problems": list(self.problems)}


class Refused(Exception):
    """The file is refused; ``Drop.refuse`` has written the report and sent the email."""

    def __init__(self, problems: list[str], counts: dict[str, int] | None = None):
        super().__init__("; ".join(problems)[:500])
        self.problems = problems
        self.counts = counts or {}


@dataclass(frozen=True)
class Intake:
    """A file taken in: its contract, how it was read and what validation made of it."""

    contract: Contract
    raw: RawTable
    result: ValidationResult


@dataclass(frozen=True)
class DroppedObject:
    """The object an S3 event names: that version (or, without one, that ETag) is read, so an
    overwrite between the event and the read never processes other bytes under its run."""

    key: str  # URL-encoded, as in the event
    etag: str
    size: int
    version: str | None = None


@dataclass
class Drop:
    """One dropped file on its way in: its ids, its report (filled as it goes) and where the
    report and the refusal email go."""

    obj: DroppedObject
    key: str  # decoded
    area: Area
    dataset: str  # as in the key: checked by take_in
    run_id: str
    raw_uri: str
    report_uri: str
    store: ObjectStore
    mailer: Mailer
    config: DropConfig
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "run_id": self.run_id, "file": self.raw_uri}

    @property
    def place(self) -> str:
        """<dataset>/<run|batch>=<run id>: the folder of this file's quarantine and outputs."""
        return f"{self.dataset}/{_RUN_FOLDER[self.area]}={self.run_id}"

    def refuse(
        self,
        problems: list[str],
        counts: dict[str, int] | None = None,
        contract: Contract | None = None,
    ) -> NoReturn:
        """The one way a dropped file is refused: the report (stored first), the email to the
        contract's notify list as the recipient policy allows it (else the AlertRecipients),
        and a structured log; then ``Refused`` is raised for the use case to answer with. A
        failing email is logged, not raised (the report is there), unless SES is only
        throttling: then Lambda retries the whole event."""
        recipients = self.config.policy.resolve(contract.notify if contract else [])
        report = self.report
        report.update(
            status="rejected",
            problems=problems,
            counts=counts or report.get("counts") or {},
            emailed_to=recipients.to,
            not_emailed_to=[str(d) for d in recipients.dropped],
        )
        write_report(self.store, self.report_uri, report)
        log = self.log | {"dataset": report.get("dataset")}
        if recipients.dropped:
            logger.warning(
                "notify recipients dropped by the recipient policy",
                extra=log | {"dropped": report["not_emailed_to"]},
            )
        logger.warning("file rejected", extra=log | {"problems": [p[:500] for p in problems[:5]]})
        email = emails.file_rejected(
            str(report.get("dataset", "")),
            self.raw_uri,
            problems,
            self.report_uri,
            counts,
            not_sent_to=report["not_emailed_to"],
        )
        try:
            self.mailer.send(email, recipients.to)
        except TabflowError:
            raise  # TransientError: throttled, worth the retry
        except Exception:
            logger.exception(
                "the rejection email could not be sent", extra=log | {"report": self.report_uri}
            )
        raise Refused(problems, counts) from None

    def skipped(self) -> IngestOutcome:
        """The event's object was overwritten before it was read (and the event carries no
        version to read it by): the newer object has its own event, which processes it."""
        logger.warning(
            "event skipped: the object was replaced after this event; its newer version has "
            "its own event",
            extra=self.log | {"etag": self.obj.etag},
        )
        etag = self.obj.etag
        problem = f"{self.raw_uri}: replaced since the event (ETag {etag} no longer current)"
        return IngestOutcome(
            "skipped", self.dataset, self.run_id, "", {}, problems=(problem,), file=self.raw_uri
        )


def open_drop(
    obj: DroppedObject, area: Area, config: DropConfig, store: ObjectStore, mailer: Mailer
) -> Drop | None:
    """<area>/<dataset>/<file...> (URL-encoded as in S3 events) -> a Drop with its report
    started; anything else -> None. The same object delivered twice gets the same run id."""
    key, etag = unquote_plus(obj.key), obj.etag
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != area or not parts[-1]:
        return None
    dataset = parts[1]
    run_id = _RUN_PREFIX[area] + hashlib.sha256(f"{key}|{etag}".encode()).hexdigest()[:20]
    folder = f"{report_prefix(dataset)}/{_RUN_FOLDER[area]}={run_id}"
    raw_uri = s3_uri(config.raw_bucket, key)
    drop = Drop(
        obj,
        key,
        area,
        dataset,
        run_id,
        raw_uri,
        s3_uri(config.lake_bucket, f"{folder}/validation.json"),
        store,
        mailer,
        config,
    )
    drop.report.update(dataset=dataset, file=raw_uri, run_id=run_id)
    if area == "batch":
        drop.report["kind"] = "batch scoring"
    drop.report.update(received_at=datetime.now(UTC).isoformat(), size_bytes=obj.size)
    if obj.version:
        drop.report["version_id"] = obj.version
    return drop


def take_in(drop: Drop, pii_salt: Callable[[], str]) -> Intake:
    """Read, check and validate the dropped file, quarantine its bad rows, and fill the report;
    raise ``Refused`` (reported and emailed) when it cannot be used, and ObjectChanged when
    the object was replaced since its event. For batch scoring every row is kept for its
    score (duplicates too) and the target may be absent."""
    key, config, report, obj = drop.key, drop.config, drop.report, drop.obj
    try:
        check_dataset_name(drop.dataset)
    except InvalidDatasetName as exc:
        report["dataset"] = shown(drop.dataset)  # the name as it may be shown, not as it came
        drop.refuse([f"{shown(key, 200)}: {exc}"])
    try:
        contract = load_contract(drop.store, config.raw_bucket, drop.dataset)
    except ContractError as exc:
        drop.refuse([str(exc)])
    too_big = size_problem(key, obj.size, config.max_file_bytes, config.max_decompressed_bytes)
    if too_big:
        drop.refuse([too_big], contract=contract)

    salt = pii_salt() if any(c.pii == "hash" for c in contract.columns.values()) else ""
    data = drop.store.get_exact(drop.raw_uri, version=obj.version, etag=obj.etag or None)
    scoring = drop.area == "batch"
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
        rules = contract.model_copy(update={"duplicates": "keep"}) if scoring else contract
        result = validate(raw, rules, file=key, salt=salt, for_scoring=scoring)
    except SchemaError as exc:
        drop.refuse(exc.problems, contract=contract)
    except TabflowError:
        # AWS trouble (TransientError; ObjectNotFound: deleted before it was read): Lambda
        # retries the event, then sends it to the dead-letter queue
        raise
    except Exception as exc:  # deterministic on these bytes: a retry would fail the same way
        logger.exception("file could not be read or validated", extra=drop.log)
        drop.refuse([unexpected_problem(key, exc)], contract=contract)

    report.update(
        counts=result.counts,
        columns=pii.redact_summaries(result.columns, pii.policy(contract.columns)),
        ignored_columns=result.ignored_columns,
        renamed_headers=result.headers,
        warnings=result.warnings,
        format={"type": raw.fmt, "encoding": raw.encoding, "delimiter": raw.delimiter},
    )
    quarantine_uri = s3_uri(config.raw_bucket, f"quarantine/{drop.place}")
    report.update(
        write_quarantine(drop.store, quarantine_uri, result.quarantined, result.duplicates)
    )
    return Intake(contract, raw, result)


def report_prefix(dataset: str) -> str:
    """reports/<dataset>, or a fixed place when the name is not a valid dataset name."""
    try:
        return f"reports/{check_dataset_name(dataset)}"
    except InvalidDatasetName:
        return f"reports/{REJECTED_NAME_PREFIX}"


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
