"""S3 ObjectCreated under batch/<dataset>/ -> a predictions file from the champion."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.file_scoring import BatchConfig, score_object
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import IngestLimits

settings = IngestLimits()  # type: ignore[call-arg]
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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    results = []
    for record in event.records:
        obj = record.s3.get_object
        result = score_object(
            key=obj.key,
            etag=obj.etag or "",
            size=obj.size or 0,
            config=config,
            store=store,
            registry=registry,
            mailer=mailer,
            pii_salt=lambda: pii_salt(settings.pii_salt_secret),
        )
        metrics.add_metric(
            name="BatchRowsScored", unit="Count", value=result.get("counts", {}).get("curated", 0)
        )
        results.append(result)
    return {"files": results}
