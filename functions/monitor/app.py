"""Scheduled: compare captured inputs with each champion's training reference; email alerts."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.ses import SesMailer
from tabflow.ingestion import load_contract
from tabflow.monitoring import check_dataset
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import MonitorSettings

settings = MonitorSettings()  # type: ignore[call-arg]
store = S3Store()
registry = DynamoRegistry(settings.registry_table)
mailer = SesMailer(settings.sender_email)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    datasets = event.get("datasets") or registry.datasets()
    results = []
    for dataset in datasets:
        contract = load_contract(store, settings.raw_bucket, dataset)
        result = check_dataset(
            dataset,
            contract,
            registry=registry,
            store=store,
            mailer=mailer,
            lake_bucket=settings.lake_bucket,
            recipients=settings.alert_recipients,
            window_days=settings.monitor_window_days,
        )
        for feature in result.get("features", []):
            metrics.add_metric(
                name=f"PSI_{dataset}_{feature['feature']}"[:255], unit="None", value=feature["psi"]
            )
        results.append(result)
    return {"datasets": results}
