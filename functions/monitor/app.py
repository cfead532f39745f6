"""Scheduled: drift (captured inputs vs each champion's training reference) and decay
(captured predictions vs delayed labels); alert emails, optional retraining."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.ses import SesMailer
from tabflow.adapters.sfn import StepFunctionsWorkflow
from tabflow.ingestion import load_contract
from tabflow.monitoring import MonitorContext, check_dataset
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import MonitorSettings

settings = MonitorSettings()  # type: ignore[call-arg]
ctx = MonitorContext(
    registry=DynamoRegistry(settings.registry_table),
    store=S3Store(),
    mailer=SesMailer(settings.sender_email),
    lake_bucket=settings.lake_bucket,
    raw_bucket=settings.raw_bucket,
    recipients=settings.alert_recipients,
    workflow=StepFunctionsWorkflow(settings.state_machine_arn)
    if settings.state_machine_arn
    else None,
)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    datasets = event.get("datasets") or ctx.registry.datasets()
    results = []
    for dataset in datasets:
        # A scheduled event checks the datasets that are due; a direct call (datasets named,
        # or `make fire`) checks now.
        due_only = event.get("source") == "aws.events" and not event.get("force")
        result = check_dataset(
            dataset, load_contract(ctx.store, settings.raw_bucket, dataset), ctx, force=not due_only
        )
        for feature in (result.get("drift") or {}).get("features", []):
            metrics.add_metric(
                name=f"PSI.{dataset}.{feature['feature']}"[:250], unit="None", value=feature["psi"]
            )
        metrics.add_metric(
            name=f"DriftedFeatures.{dataset}", unit="Count", value=len(result.get("drifted", []))
        )
        if (result.get("decay") or {}).get("auc") is not None:
            metrics.add_metric(
                name=f"LabelledAUC.{dataset}", unit="None", value=result["decay"]["auc"]
            )
        results.append(result)
    return {"datasets": results}
