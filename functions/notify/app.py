"""Step Functions task: email the outcome of a training run (promoted, rejected, failed)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow.adapters.s3 import S3Store
from tabflow.adapters.ses import SesMailer
from tabflow.observability import logger, tracer
from tabflow.settings import Settings
from tabflow.workflow.notify import notify
from tabflow.workflow.payloads import NotifyInput

settings = Settings()  # type: ignore[call-arg]
store = S3Store()
mailer = SesMailer(settings.sender_email)


# The run's run_id ({"kind": ..., "run": state}) is the logs' correlation id; clear_state:
# no key of the previous invocation survives in a warm environment.
@logger.inject_lambda_context(log_event=False, correlation_id_path="run.run_id", clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    message = parse(event, model=NotifyInput)
    logger.append_keys(dataset=message.run.dataset, kind=message.kind)
    return notify(
        message,
        store=store,
        mailer=mailer,
        recipients=settings.alert_recipients,
    ).dump()
