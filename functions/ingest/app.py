"""S3 ObjectCreated under incoming/<dataset>/ -> validate, quarantine, curate, start training."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.s3 import S3Store
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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    outcomes = []
    for record in event.records:
        if record.s3.bucket.name != settings.raw_bucket:
            logger.warning(
                "event from an unexpected bucket", extra={"bucket": record.s3.bucket.name}
            )
            continue
        obj = record.s3.get_object
        outcome = ingest_object(
            key=obj.key,
            etag=obj.etag or "",
            size=obj.size or 0,
            config=config,
            store=store,
            tables=tables,
            workflow=workflow,
            mailer=mailer,
        )
        metrics.add_metric(name=f"Files{outcome.status.capitalize()}", unit="Count", value=1)
        outcomes.append(outcome.to_dict())
    return {"files": outcomes}
