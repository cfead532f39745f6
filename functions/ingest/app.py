"""S3 ObjectCreated under incoming/<dataset>/ -> validate, quarantine, curate, start training.

Idempotency: S3 delivers events at least once, so the same event may arrive twice. A file
that was accepted is remembered for 7 days under (bucket, key, etag): a second delivery
returns the first result (logged as a skipped duplicate, with the earlier outcome) instead of
curating again and starting a second training run.

Only accepted files are remembered. A rejected file is not: the rejection email says "fix the
file or the contract and upload again", and a fix of the contract (or of the model, the
limits, anything but the bytes) leaves (bucket, key, etag) unchanged, so remembering the
rejection would silently swallow the retry. Keying on the contract's hash as well would cover
the contract but not the other causes, and would let a mere contract edit re-run an accepted
file. The cost of this choice: a duplicate delivery of a rejected file is checked again and
sends its rejection email again. A failed attempt (an exception) is never remembered either
(Powertools deletes the in-progress record), so Lambda's retries run it again.

The object is read at the event's version (versioning is on for the raw bucket), or without
one only while its ETag still matches: an overwrite between the event and the read is never
processed under this event's run (the newer object's own event processes it)."""

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.adapters.sfn import StepFunctionsWorkflow
from tabflow.adapters.tables import WranglerTables
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import IngestSettings

settings = IngestSettings()  # type: ignore[call-arg]  # from the environment
config = IngestConfig(
    raw_bucket=settings.raw_bucket,
    lake_bucket=settings.lake_bucket,
    recipients=settings.alert_recipients,
    max_file_bytes=settings.max_file_bytes,
    max_decompressed_bytes=settings.max_decompressed_bytes,
    allowed_domains=tuple(settings.allowed_recipient_domains),
)
store = S3Store()
tables = WranglerTables()
workflow = StepFunctionsWorkflow(settings.state_machine_arn)
mailer = SesMailer(settings.sender_email, policy=config.policy)


def skipped_duplicate(response: dict[str, Any], record: DataRecord) -> dict[str, Any]:
    """Powertools calls this instead of the function when the key was already processed."""
    earlier = response or {}
    logger.info(
        "duplicate event skipped: this object was already processed",
        extra={
            "reason": "same bucket, key and etag as an accepted file (idempotency record)",
            "file": earlier.get("file"),
            "idempotency_key": record.idempotency_key,
            "earlier_outcome": earlier.get("status"),
            "run_id": earlier.get("run_id"),
            "execution_arn": earlier.get("execution_arn"),
            "report_uri": earlier.get("report_uri"),
            "record_expires_at": record.expiry_timestamp,
        },
    )
    metrics.add_metric(name="DuplicateEventsSkipped", unit="Count", value=1)
    return response


idempotency = IdempotencyConfig(
    event_key_jmespath="[bucket, key, etag]",
    expires_after_seconds=7 * 24 * 3600,
    response_hook=skipped_duplicate,
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
OBJECT_KEY = "Records[0].s3.object.key"  # S3 sends one record per event (URL-encoded key)


class NotRemembered(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Carries a rejected or ignored outcome out of ``process``: raising makes Powertools
    delete the in-progress record, so the next delivery (a retry after a fix) runs again."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__(outcome.get("status"))
        self.outcome = outcome


@idempotent_function(data_keyword_argument="obj", config=idempotency, persistence_store=persistence)
def process(obj: dict[str, Any]) -> dict[str, Any]:
    outcome = ingest_object(
        key=obj["key"],
        etag=obj["etag"],
        size=obj["size"],
        version=obj.get("version"),
        config=config,
        store=store,
        tables=tables,
        workflow=workflow,
        mailer=mailer,
        pii_salt=lambda: pii_salt(settings.pii_salt_secret),
    )
    metrics.add_metric(name=f"Files{outcome.status.capitalize()}", unit="Count", value=1)
    if outcome.status != "accepted":
        raise NotRemembered(outcome.to_dict())
    return outcome.to_dict()


def process_once(obj: dict[str, Any]) -> dict[str, Any]:
    try:
        return process(obj=obj)
    except NotRemembered as done:
        return done.outcome
    except IdempotencyAlreadyInProgressError:
        # The same object is being processed by another invocation right now. Raising makes
        # Lambda retry this event later: by then the first is remembered (accepted) or not.
        logger.warning("duplicate event while the first is still in progress: retried later")
        raise


# The object key is the logs' correlation id (present on AWS and in moto's events alike); each
# record's file and etag are appended keys, so every line logged for it names the object.
# clear_state=True: no key of the previous invocation survives in a warm environment.
@logger.inject_lambda_context(log_event=False, correlation_id_path=OBJECT_KEY, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    outcomes = []
    for record in event.records:
        obj = record.s3.get_object
        logger.append_keys(
            file=f"s3://{record.s3.bucket.name}/{unquote_plus(obj.key)}", etag=obj.etag
        )
        if record.s3.bucket.name != settings.raw_bucket:
            logger.warning(
                "event from an unexpected bucket", extra={"bucket": record.s3.bucket.name}
            )
            continue
        outcomes.append(
            process_once(
                {
                    "bucket": record.s3.bucket.name,
                    "key": obj.key,
                    "etag": obj.etag or "",
                    "size": obj.size or 0,
                    "version": obj.version_id,
                }
            )
        )
    return {"files": outcomes}
