"""File drop to promoted model, prediction and drift email, through the offline AWS: the real
template, the real handlers in worker processes, the real state machine, HTTP to the API."""

import copy
import email
import email.policy
import io
import json
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

from offline_aws.demo import drifted, typed_records, wait_for_captures
from tests.conftest import ROOT
from tests.e2e.conftest import wait_for_executions

pytestmark = pytest.mark.e2e


def outbox(stack, pattern: str) -> list:
    return sorted((stack.state_dir / "outbox").glob(pattern))


def plain_text(eml) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


def test_drop_train_promote_predict_and_alert_on_drift(stack, telco_csv):
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.ref("RawBucket"), Key="incoming/telco_churn/2026-11.csv", Body=telco_csv
    )
    stack.wait_idle()
    (execution,) = wait_for_executions(stack, 1)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["evaluation"]["metrics"]["auc"] >= 0.84
    assert output["promotion"]["version"] == 1
    assert outbox(stack, "*model-v1*promoted*.eml")

    url = f"{stack.api_url}/v1/datasets/telco_churn/predict"
    key = {"x-api-key": stack.api_key}
    assert (
        requests.post(url, json={"records": []}, timeout=30).status_code == 403
    )  # no key, no answer
    customers = typed_records(ROOT, 200)
    resp = requests.post(url, json={"records": customers[:3]}, headers=key, timeout=30)
    assert resp.status_code == 200
    body = resp.json()
    assert body["model_version"] == 1 and len(body["predictions"]) == 3
    assert all(0 <= p["score"] <= 1 and p["label"] in ("Yes", "No") for p in body["predictions"])

    bad = requests.post(
        url, json={"records": [dict(customers[0], monthly_charges="lots")]}, headers=key, timeout=30
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "monthly_charges"
    assert requests.post(url, data=b"{oops", headers=key, timeout=30).status_code == 400
    assert requests.get(f"{stack.api_url}/health", timeout=30).json() == {"status": "ok"}
    assert requests.get(f"{stack.api_url}/nowhere", timeout=30).status_code == 403  # as API Gateway

    # Unchanged customers, scored by the calibrated champion: no alarm, the score included
    # (the reference holds the served, calibrated scores, not the raw model's).
    unchanged = typed_records(ROOT, 1200)[200:]
    for i in range(0, len(unchanged), 100):
        assert requests.post(
            url, json={"records": unchanged[i : i + 100]}, headers=key, timeout=30
        ).ok
    wait_for_captures(stack, "telco_churn", 1003)  # written off the request path
    quiet = stack.fire("MonitorFunction")
    assert not quiet.errored, quiet.payload
    (check,) = [d for d in quiet.payload["datasets"] if d["dataset"] == "telco_churn"]
    assert check["status"] == "ok" and check["drifted"] == [], check.get("drift")
    assert not check["drift"]["score"]["moved"]
    assert outbox(stack, "*telco-churn-input-drift*.eml") == []

    shifted = drifted(unchanged)
    for i in range(0, len(shifted), 100):
        assert requests.post(
            url, json={"records": shifted[i : i + 100]}, headers=key, timeout=30
        ).ok
    wait_for_captures(stack, "telco_churn", 2003)
    result = stack.fire("MonitorFunction")
    assert not result.errored, result.payload
    (check,) = [d for d in result.payload["datasets"] if d["dataset"] == "telco_churn"]
    assert check["status"] == "drift" and "tenure" in check["drifted"]
    (alert,) = outbox(stack, "*telco-churn-input-drift*.eml")
    text = plain_text(alert)
    assert "tenure" in text and check["report_uri"] in text
    assert alert.with_suffix(".html").exists()
    # The same shift, checked again: the state holds, and nobody is mailed twice.
    again = stack.fire("MonitorFunction")
    (check,) = [d for d in again.payload["datasets"] if d["dataset"] == "telco_churn"]
    assert check["status"] == "drift" and len(outbox(stack, "*telco-churn-input-drift*.eml")) == 1
    assert stack.runtime.errors == []


def test_a_file_missing_a_required_column_trains_nothing_and_says_why(stack, telco_csv):
    lines = telco_csv.decode().splitlines()
    drop = lines[0].split(",").index("payment_method")
    broken = "\n".join(
        ",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines
    )
    raw = stack.ref("RawBucket")
    s3 = stack.client("s3")
    before = len(
        s3.list_objects_v2(Bucket=stack.ref("LakeBucket"), Prefix="curated/").get("Contents", [])
    )
    sfn = stack.client("stepfunctions")
    runs_before = len(
        sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    )
    s3.put_object(Bucket=raw, Key="incoming/telco_churn/no_payment.csv", Body=broken.encode())
    stack.wait_idle()
    runs_after = len(
        sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    )
    assert runs_after == runs_before
    assert (
        s3.get_object(Bucket=raw, Key="incoming/telco_churn/no_payment.csv")["Body"].read()
        == broken.encode()
    )
    after = len(
        s3.list_objects_v2(Bucket=stack.ref("LakeBucket"), Prefix="curated/").get("Contents", [])
    )
    assert after == before
    reports = s3.list_objects_v2(Bucket=stack.ref("LakeBucket"), Prefix="reports/telco_churn/")[
        "Contents"
    ]
    texts = [
        s3.get_object(Bucket=stack.ref("LakeBucket"), Key=o["Key"])["Body"].read().decode()
        for o in reports
        if o["Key"].endswith("validation.json")
    ]
    assert any("missing required column 'payment_method'" in t for t in texts)
    (rejection,) = outbox(stack, "*file-rejected-missing-required-column-pa*.eml")
    assert "payment_method" in plain_text(rejection) and "no_payment.csv" in plain_text(rejection)


def test_a_failing_task_ends_in_the_failure_notification(stack, telco_csv, telco_contract_text):
    """A dataset whose target has a single class cannot be trained: the Prepare task fails, the
    state machine catches it, emails the failure naming the step, and ends FAILED."""
    contract = telco_contract_text.replace("dataset: telco_churn", "dataset: one_class")
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.ref("RawBucket"), Key="contracts/one_class.yaml", Body=contract.encode()
    )
    lines = telco_csv.decode().splitlines()
    only_no = [lines[0]] + [line for line in lines[1:] if line.split(",")[1] == "No"][:500]
    sfn = stack.client("stepfunctions")
    runs_before = len(
        sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    )
    s3.put_object(
        Bucket=stack.ref("RawBucket"),
        Key="incoming/one_class/x.csv",
        Body="\n".join(only_no).encode(),
    )
    stack.wait_idle()
    runs = wait_for_executions(stack, runs_before + 1)
    failed = next(r for r in runs if json.loads(r["input"])["dataset"] == "one_class")
    assert failed["status"] == "FAILED" and failed["error"] == "TrainingRunFailed"
    (message,) = outbox(stack, "*one-class-training-run-failed-at-prepare*.eml")
    text = plain_text(message)  # the labels Prepare saw, with their counts
    assert "resolves to 1 class(es)" in text and "'No' 500" in text, text
    champion = stack.client("dynamodb").get_item(
        TableName=stack.ref("RegistryTable"),
        Key={"pk": {"S": "one_class"}, "sk": {"S": "champion"}},
    )
    assert "Item" not in champion


def test_a_messy_export_uploaded_in_parts_trains_with_only_a_contract(stack):
    """CompleteMultipartUpload is handled like PutObject; the PII salt comes from the secret."""
    from boto3.s3.transfer import TransferConfig

    from tests.unit.test_feature_engineering import orders_frame
    from tests.unit.test_orders_pipeline import messy_csv

    s3 = stack.client("s3")
    raw = stack.ref("RawBucket")
    s3.put_object(
        Bucket=raw,
        Key="contracts/orders.yaml",
        Body=(ROOT / "tests" / "data" / "orders.yaml").read_bytes(),
    )
    data = messy_csv(orders_frame(80_000, seed=3))
    assert len(data) > 5 * 1024 * 1024
    sfn = stack.client("stepfunctions")
    runs_before = len(
        sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    )
    config = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    s3.upload_fileobj(io.BytesIO(data), raw, "incoming/orders/big export.csv", Config=config)
    stack.wait_idle()
    runs = wait_for_executions(stack, runs_before + 1)
    run = next(r for r in runs if json.loads(r["input"])["dataset"] == "orders")
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert output["counts"] == {
        "rows_in": 80_000,
        "curated": 80_000,
        "quarantined": 0,
        "duplicates": 0,
    }
    assert output["train"]["split"] == "time" and "promotion" in output
    resp = requests.post(
        f"{stack.api_url}/v1/datasets/orders/predict",
        headers={"x-api-key": stack.api_key},
        timeout=30,
        json={
            "ordered_at": "2024-04-02T18:30:00Z",
            "customer": "c3",
            "amount": 250.0,
            "discount": "5%",
            "qty": 2,
            "channel": "web",
        },
    )
    assert resp.status_code == 200, resp.text


def test_a_batch_file_dropped_in_the_bucket_yields_predictions(stack, telco_csv):
    """Runs after the drift test (the champion exists): batch/<dataset>/ -> predictions/."""
    import pandas as pd

    frame = (
        pd.read_csv(io.BytesIO(telco_csv), dtype=str, keep_default_na=False)
        .head(50)
        .drop(columns=["churn"])
    )
    s3 = stack.client("s3")
    put = s3.put_object(
        Bucket=stack.ref("RawBucket"),
        Key="batch/telco_churn/to score.csv",
        Body=frame.to_csv(index=False).encode(),
    )
    stack.wait_idle()
    # The local S3 event carries the object's version, as AWS's does, and batch read that one
    (report_key,) = [
        o["Key"]
        for o in s3.list_objects_v2(
            Bucket=stack.ref("LakeBucket"), Prefix="reports/telco_churn/batch="
        ).get("Contents", [])
        if o["Key"].endswith("/validation.json")
    ]
    report = json.loads(
        s3.get_object(Bucket=stack.ref("LakeBucket"), Key=report_key)["Body"].read()
    )
    assert report["version_id"] == put["VersionId"]
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(
            Bucket=stack.ref("LakeBucket"), Prefix="predictions/telco_churn/"
        ).get("Contents", [])
    ]
    (key,) = keys
    predictions = pd.read_csv(
        io.BytesIO(s3.get_object(Bucket=stack.ref("LakeBucket"), Key=key)["Body"].read())
    )
    assert (
        len(predictions) == 50
        and predictions["customer_id"].tolist() == frame["customer_id"].tolist()
    )
    assert predictions["model_version"].iloc[0] >= 1


# The served OpenAPI document, fuzzed through the local API gateway (schemathesis): no request
# built from it gets a 5xx, and every answer is one the document declares (status, content
# type, body schema).
@pytest.fixture(scope="module")
def api_schema(stack):
    """(Last in this module, which shares one stack: the champion trained above serves it.)
    The document the API serves, with {dataset} drawn from a served dataset and an unknown
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
