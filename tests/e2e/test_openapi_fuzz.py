"""The served OpenAPI document, fuzzed through the local API gateway (schemathesis): no request
built from it gets a 5xx, and every answer is one the document declares (status, content type,
body schema)."""

import copy
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ROOT
from tests.e2e.conftest import wait_for_executions

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_schema(stack):
    """The document the API serves, with {dataset} drawn from a served dataset and an unknown
    one (random names would all be 404s), pointed at the local gateway."""
    if (
        requests.get(
            f"{stack.api_url}/v1/datasets/telco_churn/model", headers=_key(stack), timeout=30
        ).status_code
        == 404
    ):
        done = len(
            stack.client("stepfunctions").list_executions(
                stateMachineArn=stack.ref("TrainingStateMachine")
            )["executions"]
        )
        stack.client("s3").put_object(
            Bucket=stack.ref("RawBucket"),
            Key=f"incoming/telco_churn/fuzz-{time.time_ns()}.csv",
            Body=(ROOT / "datasets" / "telco_churn.csv").read_bytes(),
        )
        stack.wait_idle()
        wait_for_executions(stack, done + 1)
    document = copy.deepcopy(requests.get(f"{stack.api_url}/openapi.json", timeout=30).json())
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "dataset":
                    parameter["schema"] = {"type": "string", "enum": ["telco_churn", "nope"]}
    return schemathesis.openapi.from_dict(document)


def _key(stack) -> dict[str, str]:
    return {"x-api-key": stack.api_key}


def test_no_request_from_the_document_gets_a_5xx_or_an_undeclared_answer(api_schema, stack):
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            case.call_and_validate(base_url=stack.api_url, headers=_key(stack), checks=checks)

        call()
