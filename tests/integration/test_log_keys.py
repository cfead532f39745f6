"""Every log line of an invocation names what it works on (Powertools correlation id and
appended keys, set once per invocation by the handler), and a warm environment's next
invocation carries none of the previous one's keys (clear_state). Read from the handlers'
own JSON log lines, under moto, with the template's environment."""

import contextlib
import io
import json
from collections.abc import Iterator

import boto3

from tests.integration.conftest import Context, api_event, s3_put_event

REGION = "us-east-1"


@contextlib.contextmanager
def logged(module) -> Iterator[list[dict]]:
    """The JSON log lines written while the block runs (the Powertools logger's own stream)."""
    handler = module.logger.registered_handler
    stream, handler.stream = handler.stream, io.StringIO()
    lines: list[dict] = []
    try:
        yield lines
    finally:
        text, handler.stream = handler.stream.getvalue(), stream
        lines += [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def failed_run(run_id: str, dataset: str) -> dict:
    return {
        "kind": "failed",
        "run": {
            "dataset": dataset,
            "run_id": run_id,
            "error": {"Error": "States.TaskFailed", "Cause": '{"errorMessage": "boom"}'},
            "failed_step": "Train",
        },
    }


def test_a_workflow_task_logs_under_its_run_id_and_the_next_run_under_its_own(aws, load_handler):
    notify = load_handler("NotifyFunction")
    with logged(notify) as first:
        notify.lambda_handler(failed_run("run-aaa", "telco_churn"), Context())
    with logged(notify) as second:
        notify.lambda_handler(failed_run("run-bbb", "hotel_rates"), Context())

    (sent,) = [line for line in first if line["message"] == "notification sent"]
    assert sent["correlation_id"] == "run-aaa"
    assert sent["dataset"] == "telco_churn" and sent["kind"] == "failed"
    assert second and all(line["correlation_id"] == "run-bbb" for line in second)
    assert "run-aaa" not in json.dumps(second) and "telco_churn" not in json.dumps(second)


def test_an_s3_event_logs_under_its_object_key_with_the_file_on_every_line(aws, load_handler):
    ingest = load_handler("IngestFunction")
    raw = aws.ref("RawBucket")
    key = "incoming/telco_churn/broken.csv"
    data = b"customer_id,tenure\nA-1,3\n"  # most required columns missing: rejected
    etag = (
        boto3.client("s3", region_name=REGION)
        .put_object(Bucket=raw, Key=key, Body=data)["ETag"]
        .strip('"')
    )

    with logged(ingest) as lines:
        (outcome,) = ingest.lambda_handler(s3_put_event(raw, key, len(data), etag), Context())[
            "files"
        ]

    assert outcome["status"] == "rejected"
    (rejected,) = [line for line in lines if line["message"] == "file rejected"]
    assert rejected["correlation_id"] == key
    assert all(line["file"] == f"s3://{raw}/{key}" and line["etag"] == etag for line in lines), (
        lines
    )


def test_a_warm_api_environment_drops_the_previous_requests_keys(aws, load_handler):
    """Request 1 (a prediction for telco_churn) appends the dataset; request 2 (the OpenAPI
    document) has no dataset: its log line must not claim the previous request's."""
    predict = load_handler("PredictFunction")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    predict.predictor.predict = broken
    predict.openapi_document = broken
    first_event = api_event(
        "POST",
        "/v1/datasets/telco_churn/predict",
        "/v1/datasets/{dataset}/predict",
        {"dataset": "telco_churn"},
        json.dumps({"tenure": 2}),
    )
    first_event["requestContext"]["requestId"] = "request-1"
    second_event = api_event("GET", "/openapi.json", "/openapi.json", None, None)
    second_event["requestContext"]["requestId"] = "request-2"

    with logged(predict) as first:
        assert predict.lambda_handler(first_event, Context())["statusCode"] == 500
    with logged(predict) as second:
        assert predict.lambda_handler(second_event, Context())["statusCode"] == 500

    (error,) = [line for line in first if line["message"] == "unexpected error"]
    assert error["correlation_id"] == "request-1" and error["dataset"] == "telco_churn"
    (error,) = [line for line in second if line["message"] == "unexpected error"]
    assert error["correlation_id"] == "request-2"
    assert "dataset" not in error, error  # request 1's key, left over without clear_state
