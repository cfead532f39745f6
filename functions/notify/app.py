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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return notify(
        parse(event, model=NotifyInput),
        store=store,
        mailer=mailer,
        recipients=settings.alert_recipients,
    )
