"""Scheduled: drift (captured inputs vs each champion's training reference) and decay
(captured predictions vs delayed labels); alert emails, optional retraining."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.adapters.sfn import StepFunctionsWorkflow
from tabflow.adapters.tables import WranglerTables
from tabflow.intake import load_contract
from tabflow.monitoring.check import check_dataset
from tabflow.monitoring.context import MonitorContext
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
    tables=WranglerTables(),  # retraining adds the labelled captures to the curated data
    pii_salt=lambda: pii_salt(settings.pii_salt_secret),
)


def _publish(dataset: str, result: dict[str, Any]) -> None:
    """CloudWatch metrics with a dataset dimension (one EMF document each). PSI is one metric
    name with a ``feature`` dimension: dashboards and alarms find every feature with one
    SEARCH, and a new feature adds no metric name."""
    values: list[tuple[str, float, MetricUnit, dict[str, str]]] = [
        ("DriftedFeatures", len(result.get("drifted", [])), MetricUnit.Count, {})
    ]
    if (result.get("decay") or {}).get("auc") is not None:
        values.append(("LabelledAUC", result["decay"]["auc"], MetricUnit.NoUnit, {}))
    drift = result.get("drift") or {}
    score = [drift["score"]] if drift.get("score") else []
    for check in drift.get("features", []) + score + drift.get("class_scores", []):
        values.append(("PSI", check["psi"], MetricUnit.NoUnit, {"feature": check["feature"]}))
    for name, value, unit, dimensions in values:
        with single_metric(
            name=name, unit=unit, value=value, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="dataset", value=dataset)
            metric.add_dimension(name="service", value="monitor")
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=dim[:1024])


# A scheduled event's id is the logs' correlation id (a direct call has none); the dataset
# being checked is an appended key. clear_state=True: no key of the previous invocation
# survives in a warm environment.
@logger.inject_lambda_context(
    log_event=False, correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    datasets = event.get("datasets") or ctx.registry.datasets()
    results = []
    for dataset in datasets:
        logger.append_keys(dataset=dataset)
        # A scheduled event checks the datasets that are due; a direct call (datasets named,
        # or `make fire`) checks now.
        due_only = event.get("source") == "aws.events" and not event.get("force")
        result = check_dataset(
            dataset, load_contract(ctx.store, settings.raw_bucket, dataset), ctx, force=not due_only
        )
        _publish(dataset, result)
        results.append(result)
    return {"datasets": results}
