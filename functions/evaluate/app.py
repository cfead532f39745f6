"""Step Functions task: score the held-out rows with every candidate and the champion, apply
the gates, write the evaluation report and model card."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.tables import WranglerTables
from tabflow.observability import logger, metrics, tracer
from tabflow.settings import Settings
from tabflow.workflow.evaluate import evaluate
from tabflow.workflow.payloads import EvaluateInput

settings = Settings()  # type: ignore[call-arg]
store = S3Store()
tables = WranglerTables()
registry = DynamoRegistry(settings.registry_table)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    out = evaluate(
        parse(event, model=EvaluateInput),
        store=store,
        tables=tables,
        lake_bucket=settings.lake_bucket,
        model_bucket=settings.model_bucket,
        registry=registry,
    )
    metrics.add_metric(
        name="ModelsPromoted" if out["promote"] else "ModelsRejected", unit="Count", value=1
    )
    return out
