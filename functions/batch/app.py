"""S3 ObjectCreated under batch/<dataset>/ -> a predictions file from the champion.

Idempotency: S3 delivers events at least once. A file that was scored is remembered for 7
days under (bucket, key, version, etag): a second delivery of the same event returns the
first result (logged as a skipped duplicate) instead of scoring, capturing and reporting the
same rows again. A re-upload of the key is a new version and is scored. Only scored files are
remembered: a rejected file (no champion yet, a contract problem) is scored when its event is
delivered again after the fix, and a failed attempt (an exception) runs again on Lambda's
retry (Powertools deletes the in-progress record), as in the ingest function.

The object is read at the event's version (or, without one, only while its ETag matches):
an overwrite between the event and the read never scores other bytes under this event."""

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

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.file_scoring import BatchConfig, score_object
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import BatchSettings

settings = BatchSettings()  # type: ignore[call-arg]
config = BatchConfig(
    raw_bucket=settings.raw_bucket,
    lake_bucket=settings.lake_bucket,
    recipients=settings.alert_recipients,
    max_file_bytes=settings.max_file_bytes,
    max_decompressed_bytes=settings.max_decompressed_bytes,
    allowed_domains=tuple(settings.allowed_recipient_domains),
    model_bucket=settings.model_bucket,
)
store = S3Store()
registry = DynamoRegistry(settings.registry_table)
mailer = SesMailer(settings.sender_email)


def skipped_duplicate(response: dict[str, Any], record: DataRecord) -> dict[str, Any]:
    """Powertools calls this instead of the function when the object was already scored."""
    earlier = response or {}
    logger.info(
        "duplicate event skipped: this object was already scored",
        extra={
            "reason": "same bucket, key, version and etag as a scored file (idempotency record)",
            "predictions_uri": earlier.get("predictions_uri"),
            "report_uri": earlier.get("report_uri"),
            "idempotency_key": record.idempotency_key,
            "record_expires_at": record.expiry_timestamp,
        },
    )
    metrics.add_metric(name="DuplicateEventsSkipped", unit="Count", value=1)
    return response


idempotency = IdempotencyConfig(
    event_key_jmespath="[bucket, key, version, etag]",
    expires_after_seconds=7 * 24 * 3600,
    response_hook=skipped_duplicate,
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
OBJECT_KEY = "Records[0].s3.object.key"  # S3 sends one record per event (URL-encoded key)


class NotRemembered(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Carries an outcome other than "scored" out of ``process``: raising makes Powertools
    delete the in-progress record, so the next delivery runs again."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__(outcome.get("status"))
        self.outcome = outcome


@idempotent_function(data_keyword_argument="obj", config=idempotency, persistence_store=persistence)
def process(obj: dict[str, Any]) -> dict[str, Any]:
    result = score_object(
        key=obj["key"],
        etag=obj["etag"],
        size=obj["size"],
        version=obj["version"],
        config=config,
        store=store,
        registry=registry,
        mailer=mailer,
        pii_salt=lambda: pii_salt(settings.pii_salt_secret),
    )
    metrics.add_metric(
        name="BatchRowsScored", unit="Count", value=result.get("counts", {}).get("curated", 0)
    )
    if result.get("status") != "scored":
        raise NotRemembered(result)
    return result


def process_once(obj: dict[str, Any]) -> dict[str, Any]:
    try:
        return process(obj=obj)
    except NotRemembered as done:
        return done.outcome
    except IdempotencyAlreadyInProgressError:
        # Being scored by another invocation right now: Lambda retries this event later.
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
    results = []
    for record in event.records:
        obj = record.s3.get_object
        logger.append_keys(
            file=f"s3://{record.s3.bucket.name}/{unquote_plus(obj.key)}", etag=obj.etag
        )
        results.append(
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
    return {"files": results}
