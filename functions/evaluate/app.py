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


# The run_id of the run state is the logs' correlation id; clear_state: no key of the
# previous invocation survives in a warm environment.
@logger.inject_lambda_context(log_event=False, correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = parse(event, model=EvaluateInput)
    logger.append_keys(dataset=run.dataset)
    out = evaluate(
        run,
        store=store,
        tables=tables,
        lake_bucket=settings.lake_bucket,
        model_bucket=settings.model_bucket,
        registry=registry,
    )
    metrics.add_metric(
        name="ModelsPromoted" if out.promote else "ModelsRejected", unit="Count", value=1
    )
    return out.dump()
