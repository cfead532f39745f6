"""S3 ObjectCreated under incoming/<dataset>/ -> validate, quarantine, curate, start training.

Each object is processed once: the same S3 event delivered twice (S3 delivers at least
once) returns the first result from the idempotency table instead of running again."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
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
)
store = S3Store()
tables = WranglerTables()
workflow = StepFunctionsWorkflow(settings.state_machine_arn)
mailer = SesMailer(settings.sender_email)
idempotency = IdempotencyConfig(
    event_key_jmespath="[bucket, key, etag]", expires_after_seconds=7 * 24 * 3600
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


@idempotent_function(data_keyword_argument="obj", config=idempotency, persistence_store=persistence)
def process(obj: dict[str, Any]) -> dict[str, Any]:
    outcome = ingest_object(
        key=obj["key"],
        etag=obj["etag"],
        size=obj["size"],
        config=config,
        store=store,
        tables=tables,
        workflow=workflow,
        mailer=mailer,
        pii_salt=lambda: pii_salt(settings.pii_salt_secret),
    )
    metrics.add_metric(name=f"Files{outcome.status.capitalize()}", unit="Count", value=1)
    return outcome.to_dict()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    outcomes = []
    for record in event.records:
        if record.s3.bucket.name != settings.raw_bucket:
            logger.warning(
                "event from an unexpected bucket", extra={"bucket": record.s3.bucket.name}
            )
            continue
        obj = record.s3.get_object
        outcomes.append(
            process(
                obj={
                    "bucket": record.s3.bucket.name,
                    "key": obj.key,
                    "etag": obj.etag or "",
                    "size": obj.size or 0,
                }
            )
        )
    return {"files": outcomes}
