"""Lambda's handling of a failed asynchronous invocation (an S3 notification, for one):
retried ``MaximumRetryAttempts`` times (the function's EventInvokeConfig, default 2), then the
event goes to the function's DeadLetterQueue and the invocation record to its OnFailure
destination, when the template configures them."""

import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from offline_aws.runtime import FunctionSpec, Invocation, LambdaRuntime


def invoke_with_retries(
    runtime: LambdaRuntime,
    function: str,
    event: Any,
    *,
    retry_delay: float,
    sqs: Callable[[], Any],
    invoke_async: Callable[[str, Any], Any],
) -> Invocation:
    """Run ``function`` on ``event`` until it succeeds or the attempts run out. AWS waits
    about a minute before the first retry and two before the second; here ``retry_delay``
    seconds, then twice that."""
    spec = runtime.functions[function]
    request_id = str(uuid.uuid4())  # one id for every attempt, as on AWS
    attempts = 1 + max(0, spec.max_retry_attempts)
    for attempt in range(1, attempts + 1):
        result = runtime.invoke(function, event, request_id)
        if not result.errored:
            return result
        if attempt < attempts:
            delay = retry_delay * attempt
            sys.stderr.write(
                f">> {spec.logical_id}: asynchronous invocation failed "
                f"(attempt {attempt} of {attempts}), retrying in {delay:g} s\n"
            )
            time.sleep(delay)
    _failed(spec, event, request_id, attempts, result, sqs, invoke_async)
    return result


def _failed(
    spec: FunctionSpec,
    event: Any,
    request_id: str,
    attempts: int,
    result: Invocation,
    sqs: Callable[[], Any],
    invoke_async: Callable[[str, Any], Any],
) -> None:
    error = result.payload if isinstance(result.payload, dict) else {}
    message = str(error.get("errorMessage", ""))[:1000]
    if spec.dead_letter_arn:  # the event as it came, with Lambda's three attributes
        _send(
            sqs,
            spec.dead_letter_arn,
            json.dumps(event, default=str),
            {
                "RequestID": {"DataType": "String", "StringValue": request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": message or "error"},
            },
        )
    if spec.on_failure_arn:  # an invocation record
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"{spec.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": error,
        }
        if spec.on_failure_arn.startswith("arn:aws:sqs:"):
            _send(sqs, spec.on_failure_arn, json.dumps(record, default=str), {})
        elif spec.on_failure_arn.startswith("arn:aws:lambda:"):
            invoke_async(spec.on_failure_arn.split(":")[6], record)
        else:
            sys.stderr.write(f"!! on-failure destination not emulated: {spec.on_failure_arn}\n")
    where = spec.dead_letter_arn or spec.on_failure_arn or "nowhere (no DeadLetterQueue)"
    sys.stderr.write(
        f"!! {spec.logical_id}: {attempts} attempts failed "
        f"({error.get('errorType')}: {message[:200]}); event sent to {where}\n"
    )


def _send(sqs: Callable[[], Any], arn: str, body: str, attributes: dict[str, Any]) -> None:
    account, name = arn.split(":")[4:6]
    try:
        client = sqs()
        url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        client.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    except Exception as exc:  # the failure is reported, not lost in a thread
        sys.stderr.write(f"!! could not send the failed event to {arn}: {exc!r}\n")
