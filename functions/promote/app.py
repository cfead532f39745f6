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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return promote(
        parse(event, model=PromoteInput),
        store=store,
        registry=registry,
        model_bucket=settings.model_bucket,
        code_version=settings.code_version,
    )
