"""Hostile request bodies through the predict handler (under moto, with the template's
environment), as API Gateway delivers them: each is a 4xx whose message names the problem,
never an exception (a 502 on AWS) or a 500."""

import io
import json

from tests.integration.conftest import Context, api_event
from tests.unit.test_hostile_bodies import HOSTILE

PATH, RESOURCE = "/v1/datasets/telco_churn/predict", "/v1/datasets/{dataset}/predict"


def proxy_event(body: str | None, is_b64: bool, headers: dict[str, str]) -> dict:
    event = api_event("POST", PATH, RESOURCE, {"dataset": "telco_churn"}, body)
    event["isBase64Encoded"] = is_b64
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    return event


def test_every_hostile_body_gets_a_4xx_that_names_the_problem(aws, load_handler):
    predict = load_handler("PredictFunction")
    for name, body, is_b64, headers, status, words in HOSTILE:
        response = predict.lambda_handler(proxy_event(body, is_b64, headers), Context())
        answer = json.loads(response["body"])
        assert response["statusCode"] == status, (name, answer)
        assert words in answer["message"], (name, answer)
        assert answer["errors"][0]["field"] in ("body", "Content-Encoding", "Content-Type"), name
        assert len(response["body"]) < 5000, name  # what was sent is not echoed whole


def test_an_ordinary_body_passes_the_reader_whatever_its_content_type(aws, load_handler):
    """No champion in this stack: a body that reads gets as far as the model lookup (404)."""
    predict = load_handler("PredictFunction")
    record = json.dumps({"tenure": 2})
    for headers in (
        {},
        {"content-type": "application/json"},
        {"Content-Type": "application/x-www-form-urlencoded"},  # what curl -d sends
        {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "identity"},
    ):
        response = predict.lambda_handler(proxy_event(record, False, headers), Context())
        assert response["statusCode"] == 404, (headers, response["body"])


def test_an_unexpected_error_is_a_logged_500_with_the_request_id(aws, load_handler):
    """A fault no one foresaw (here: the predictor itself raises) is answered as a 500 that
    carries the request id, and the log line carries it as its correlation id."""
    predict = load_handler("PredictFunction")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    predict.predictor.predict = broken
    event = proxy_event(json.dumps({"tenure": 2}), False, {})
    handler = predict.logger.registered_handler  # the log's stream, whoever created it first
    stream, handler.stream = handler.stream, io.StringIO()
    try:
        response = predict.lambda_handler(event, Context())
        log = handler.stream.getvalue()
    finally:
        handler.stream = stream
    answer = json.loads(response["body"])
    request_id = event["requestContext"]["requestId"]
    assert response["statusCode"] == 500 and answer == {
        "message": "internal error",
        "request_id": request_id,
    }
    assert "disk on fire" not in response["body"]  # no internals in the answer
    logged = [json.loads(line) for line in log.splitlines() if '"level"' in line]
    (error,) = [line for line in logged if line["message"] == "unexpected error"]
    assert error["correlation_id"] == request_id and "disk on fire" in error["exception"]
