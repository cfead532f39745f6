"""Step Functions task: store the winner as a new version and move the champion pointer."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.observability import logger, tracer
from tabflow.settings import Settings
from tabflow.workflow.payloads import PromoteInput
from tabflow.workflow.promote import promote

settings = Settings()  # type: ignore[call-arg]
store = S3Store()
registry = DynamoRegistry(settings.registry_table)


# The run_id of the run state is the logs' correlation id; clear_state: no key of the
# previous invocation survives in a warm environment.
@logger.inject_lambda_context(log_event=False, correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = parse(event, model=PromoteInput)
    logger.append_keys(dataset=run.dataset)
    return promote(
        run,
        store=store,
        registry=registry,
        model_bucket=settings.model_bucket,
        code_version=settings.code_version,
    ).dump()
