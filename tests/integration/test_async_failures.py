"""The offline AWS's asynchronous invocations fail as Lambda's do: a function that fails is
run again (MaximumRetryAttempts), then its event goes to the dead-letter queue and the
invocation record to the on-failure destination. Worker processes of the real runtime, a
moto SQS queue; the full stack is tested in tests/e2e/test_gateway_fidelity.py."""

import json
import os

import boto3
import pytest
from moto import mock_aws

from offline_aws.failures import invoke_with_retries
from offline_aws.runtime import FunctionSpec, LambdaRuntime

HANDLER = """
import os

def handler(event, context):
    with open(os.environ["ATTEMPTS_FILE"], "a") as f:
        f.write(context.aws_request_id + "\\n")
    if event.get("fail"):
        raise ValueError(f"cannot process {event['key']}")
    return {"ok": event["key"]}
"""


@pytest.fixture
def runtime(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    env = {k: os.environ[k] for k in ("PATH", "PYTHONPATH", "HOME") if k in os.environ}
    rt = LambdaRuntime(env, tmp_path / "logs")
    yield rt, code, tmp_path / "attempts.txt"
    rt.shutdown()


def _spec(code, attempts_file, **failure) -> FunctionSpec:
    return FunctionSpec(
        name="fn",
        logical_id="Fn",
        code_dir=code,
        handler="app.handler",
        environment={"ATTEMPTS_FILE": str(attempts_file)},
        timeout=30,
        arn="arn:aws:lambda:us-east-1:123456789012:function:fn",
        **failure,
    )


@mock_aws
@pytest.mark.parametrize("retries", [2, 0])
def test_a_failing_invocation_is_retried_then_its_event_is_dead_lettered(runtime, retries):
    rt, code, attempts_file = runtime
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    destination = sqs.create_queue(QueueName="on-failure")["QueueUrl"]
    rt.register(
        _spec(
            code,
            attempts_file,
            max_retry_attempts=retries,
            dead_letter_arn="arn:aws:sqs:us-east-1:123456789012:dlq",
            on_failure_arn="arn:aws:sqs:us-east-1:123456789012:on-failure",
        )
    )
    event = {"fail": True, "key": "incoming/x/a.csv"}
    result = invoke_with_retries(
        rt, "fn", event, retry_delay=0.01, sqs=lambda: sqs, invoke_async=lambda *a: None
    )
    assert result.errored and result.payload["errorType"] == "ValueError"
    ids = attempts_file.read_text().split()
    assert len(ids) == 1 + retries and len(set(ids)) == 1  # one request id for every attempt

    (message,) = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"]) == event
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RequestID"] == ids[0]
    assert attributes["ErrorMessage"] == "cannot process incoming/x/a.csv"

    (record,) = sqs.receive_message(QueueUrl=destination)["Messages"]
    record = json.loads(record["Body"])
    assert record["requestPayload"] == event
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert record["responsePayload"]["errorMessage"] == "cannot process incoming/x/a.csv"


@mock_aws
def test_a_successful_invocation_runs_once_and_sends_nothing(runtime):
    rt, code, attempts_file = runtime
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    rt.register(
        _spec(code, attempts_file, dead_letter_arn="arn:aws:sqs:us-east-1:123456789012:dlq")
    )
    result = invoke_with_retries(
        rt, "fn", {"key": "k"}, retry_delay=0.01, sqs=lambda: sqs, invoke_async=lambda *a: None
    )
    assert not result.errored and result.payload == {"ok": "k"}
    assert len(attempts_file.read_text().split()) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)
