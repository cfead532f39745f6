"""Hostile request bodies through the predict handler (under moto, with the template's
environment), as API Gateway delivers them: each is a 4xx whose message names the problem,
never an exception (a 502 on AWS) or a 500."""

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
