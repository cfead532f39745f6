"""Captures survive an execution environment that is never run again.

Lambda freezes an environment as soon as the handler returns and may retire it while idle
without a signal (no SIGTERM without an extension, no atexit), so a capture still in memory
after an invocation is lost. The predict handler writes each invocation's captures before it
returns: after every single invocation, with no flush and no exit hook, S3 holds every
request captured so far. The wait is bounded, so a slow S3 never costs a served prediction."""

import json
import time
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from offline_aws.deploy import deploy
from tabflow.adapters.clients import client as cached_client
from tests.conftest import ROOT
from tests.integration.conftest import Context
from tests.integration.test_pii import (
    REGION,
    api_record,
    export_csv,
    keys,
    load_handler,
    pii_contract,
    predict_event,
    put,
    raw_frame,
    read,
    train_and_promote,
)

DATASET = "orders"


@dataclass
class ShortContext(Context):
    """An invocation with ``remaining_ms`` left before its timeout."""

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def served():
    """A champion for the orders contract, promoted through the real task handlers."""
    with pytest.MonkeyPatch.context() as mp, mock_aws():
        for var, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            mp.setenv(var, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        cached_client.cache_clear()
        dep = deploy(ROOT, "tabflow-capture", lambda s: boto3.client(s, region_name=REGION))
        raw = dep.ref("RawBucket")
        s3 = boto3.client("s3", region_name=REGION)
        s3.put_object(Bucket=raw, Key=f"contracts/{DATASET}.yaml", Body=pii_contract().encode())
        frame = raw_frame(800)
        ingest = load_handler(dep, mp, "IngestFunction")
        outcome = ingest.lambda_handler(
            put(raw, f"incoming/{DATASET}/export.csv", export_csv(frame)), Context()
        )["files"][0]
        assert outcome["status"] == "accepted", outcome
        sfn = boto3.client("stepfunctions", region_name=REGION)
        (execution,) = sfn.list_executions(stateMachineArn=dep.ref("TrainingStateMachine"))[
            "executions"
        ]
        train_and_promote(
            dep,
            mp,
            json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]),
        )
        records = [api_record(row) for _, row in frame.head(40).iterrows()]
        yield dep, mp, records
        cached_client.cache_clear()


def captured(lake: str, prefix: str) -> list[str]:
    """The request ids of the captured rows whose request id starts with ``prefix``."""
    rows = [
        json.loads(line)
        for key in keys(lake, f"captures/{DATASET}/")
        for line in read(lake, key).decode().splitlines()
    ]
    return sorted(r["_request_id"] for r in rows if r["_request_id"].startswith(prefix))


def test_every_invocation_has_written_its_captures_when_it_returns(served):
    dep, mp, records = served
    lake = dep.ref("LakeBucket")
    predict = load_handler(dep, mp, "PredictFunction")
    request_ids = []
    for i, record in enumerate(records[:25]):
        event = predict_event([record])
        event["requestContext"]["requestId"] = f"req-{i}"
        assert predict.lambda_handler(event, Context())["statusCode"] == 200
        # Frozen here for ever: no further invocation, no flush, no atexit.
        request_ids.append(f"req-{i}")
        assert captured(lake, "req-") == sorted(request_ids), i
    # A request the API rejects captures nothing; a GET writes nothing either.
    bad = predict_event([dict(records[0], qty="many")])
    assert predict.lambda_handler(bad, Context())["statusCode"] == 422
    assert len(captured(lake, "")) == 25


def test_a_slow_capture_write_never_holds_the_answer_past_the_invocation_deadline(served):
    """S3 takes 5 s to take the capture; the invocation has 1.6 s left: it answers after the
    bounded wait (0.6 s: its remaining time less a second), and the capture lands later."""
    dep, mp, records = served
    lake = dep.ref("LakeBucket")
    predict = load_handler(dep, mp, "PredictFunction")
    write = predict.capture.write

    def slow_write(dataset: str, lines: list[str]) -> None:
        time.sleep(5)
        write(dataset, lines)

    predict.capture.write = slow_write
    event = predict_event([records[0]])
    event["requestContext"]["requestId"] = "slow-1"
    start = time.perf_counter()
    response = predict.lambda_handler(event, ShortContext(remaining_ms=1600))
    elapsed = time.perf_counter() - start
    assert response["statusCode"] == 200
    assert elapsed < 3.5, elapsed  # not the 5 s of the write
    assert predict.capture.flush(timeout=30)  # the write goes on, and completes
    assert captured(lake, "slow-") == ["slow-1"]
