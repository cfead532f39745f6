import base64
import email
import gzip
import io
import json
from urllib.parse import quote_plus

import boto3
import pandas as pd
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.errors import ObjectNotFound, TargetUnresolved
from tests.conftest import EVENTS
from tests.integration.conftest import Context, api_event, s3_put_event

REGION = "us-east-1"
# A valid Telco record, as a client sends it.
TELCO_RECORD = {
    "female": True,
    "senior_citizen": False,
    "partner": True,
    "dependents": False,
    "tenure": 2,
    "phone_service": True,
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "No",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "Yes",
    "streaming_movies": "Yes",
    "contract": "Month-to-month",
    "paperless_billing": True,
    "payment_method": "Electronic check",
    "monthly_charges": 95.5,
    "total_charges": 190.0,
}


def put(bucket: str, key: str, data: bytes) -> dict:
    s3 = boto3.client("s3", region_name=REGION)
    etag = s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
    return s3_put_event(bucket, quote_plus(key), len(data), etag)


def sent_mail() -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def mail_text(raw: str) -> str:
    """The plain-text part of a sent email, decoded."""
    parts = email.message_from_string(raw).walk()
    return "".join(
        p.get_payload(decode=True).decode() for p in parts if p.get_content_type() == "text/plain"
    )


def executions(aws) -> list:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.list_executions(stateMachineArn=aws.ref("TrainingStateMachine"))["executions"]


def test_ingest_curates_reports_and_starts_training_once(aws, load_handler, telco_csv):
    ingest = load_handler("IngestFunction")
    # a key with a space arrives URL-encoded in the event, as on AWS
    ev = put(aws.ref("RawBucket"), "incoming/telco_churn/march export.csv", telco_csv)
    out = ingest.lambda_handler(ev, Context())
    (file,) = out["files"]
    assert file["status"] == "accepted" and file["counts"]["curated"] == 7043
    s3 = boto3.client("s3", region_name=REGION)
    bucket, key = file["report_uri"][5:].split("/", 1)
    first_report = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    again = ingest.lambda_handler(ev, Context())  # delivered twice
    assert again == out  # the stored result, not a second run:
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == first_report  # nothing rewritten
    ddb = boto3.client("dynamodb", region_name=REGION)
    (record,) = ddb.scan(TableName=aws.ref("IdempotencyTable"))["Items"]
    assert record["status"]["S"] == "COMPLETED"
    runs = executions(aws)
    assert len(runs) == 1 and runs[0]["name"] == file["run_id"]
    s3 = boto3.client("s3", region_name=REGION)
    lake = aws.ref("LakeBucket")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lake)["Contents"]]
    curated = [k for k in keys if k.startswith("curated/telco_churn/")]
    assert len(curated) == 1
    frame = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=lake, Key=curated[0])["Body"].read()))
    assert len(frame) == 7043 and frame["tenure"].dtype == "Int64"
    assert any(k.endswith("validation.html") for k in keys)


def test_missing_column_stops_the_file_keeps_it_and_emails(aws, load_handler, telco_csv):
    ingest = load_handler("IngestFunction")
    frame = pd.read_csv(io.BytesIO(telco_csv), dtype=str, keep_default_na=False).drop(
        columns=["contract"]
    )
    data = frame.to_csv(index=False).encode()
    raw = aws.ref("RawBucket")
    out = ingest.lambda_handler(put(raw, "incoming/telco_churn/no_contract.csv", data), Context())
    assert out["files"][0]["status"] == "rejected"
    assert executions(aws) == []
    s3 = boto3.client("s3", region_name=REGION)
    assert (
        s3.get_object(Bucket=raw, Key="incoming/telco_churn/no_contract.csv")["Body"].read() == data
    )
    bucket, key = out["files"][0]["report_uri"][5:].split("/", 1)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert report["problems"] == ["missing required column 'contract'"]
    assert any("contract" in m.raw_data and "rejected" in m.raw_data for m in sent_mail())


def _promote_a_champion(aws, load_handler, telco_csv) -> None:
    """Run the real task handlers in sequence, as the state machine would."""
    ingest = load_handler("IngestFunction")
    out = ingest.lambda_handler(
        put(aws.ref("RawBucket"), "incoming/telco_churn/t.csv", telco_csv), Context()
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    state = json.loads(
        sfn.describe_execution(executionArn=executions(aws)[0]["executionArn"])["input"]
    )
    assert state["run_id"] == out["files"][0]["run_id"]
    state["prepare"] = load_handler("PrepareFunction").prepare_handler(state, Context())
    trial = load_handler("TrialFunction").trial_handler
    state["trials"] = [  # the Map state
        trial({**state, "trial": t, "split_uri": state["prepare"]["split_uri"]}, Context())
        for t in state["prepare"]["trials"]
    ]
    train = load_handler("TrainFunction").lambda_handler
    candidates = [
        train({"candidate": c, "run": state}, Context()) for c in ("lightgbm", "linear")
    ]  # Parallel
    state["train"] = load_handler("SelectFunction").select_handler(
        {"results": candidates}, Context()
    )
    state["evaluation"] = load_handler("EvaluateFunction").lambda_handler(state, Context())
    assert state["evaluation"]["promote"]
    # The classes the model learned from, beside the mean score it serves: a calibrated
    # model's mean score is near the positive rate (wrong labels would show here).
    labels = state["evaluation"]["labels"]
    assert set(labels["train"]) == {"Yes", "No"} and sum(labels["train"].values()) > 5000
    assert abs(labels["train_positive_rate"] - 1869 / 7043) < 0.01
    assert abs(labels["mean_score"] / labels["test_positive_rate"] - 1) < 0.3, labels
    state["promotion"] = load_handler("PromoteFunction").lambda_handler(state, Context())
    note = load_handler("NotifyFunction").lambda_handler(
        {"kind": "promoted", "run": state}, Context()
    )
    assert "promoted" in note["subject"]
    mail = mail_text(sent_mail()[-1].raw_data)
    assert "training labels" in mail and "mean served score" in mail, mail


LABELS_CONTRACT = """
dataset: labels_demo
target: {column: churn, positive_label: "Yes"}
columns:
  customer_id: {type: string, feature: false}
  churn: {type: string}
  tenure: {type: int}
  monthly_charges: {type: float}
"""


@pytest.mark.parametrize(
    ("spell", "positive", "named"),
    [
        ({"No": "Maybe"}, "Yes", ["resolves to 3 class(es)", "'Maybe'"]),
        ({}, "Churned", ["positive_label 'Churned' matches no row", "'Yes' 1869", "'No'"]),
    ],
)
def test_prepare_refuses_labels_that_do_not_resolve_and_names_what_it_saw(
    aws, load_handler, telco_csv, spell, positive, named
):
    """A string target with a third value, or a positive label no row has: Prepare stops the
    run before training, and the failure email carries the observed labels and counts."""
    frame = pd.read_csv(io.BytesIO(telco_csv), dtype=str, keep_default_na=False)
    frame = frame[["customer_id", "churn", "tenure", "monthly_charges"]].copy()
    for old, new in spell.items():  # every 5th "No" spelled otherwise
        rows = frame.index[frame["churn"] == old][::5]
        frame.loc[rows, "churn"] = new
    raw = aws.ref("RawBucket")
    contract = LABELS_CONTRACT.replace('positive_label: "Yes"', f'positive_label: "{positive}"')
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=raw, Key="contracts/labels_demo.yaml", Body=contract.encode()
    )
    out = load_handler("IngestFunction").lambda_handler(
        put(raw, "incoming/labels_demo/export.csv", frame.to_csv(index=False).encode()), Context()
    )
    assert out["files"][0]["status"] == "accepted", out
    sfn = boto3.client("stepfunctions", region_name=REGION)
    state = json.loads(
        sfn.describe_execution(executionArn=executions(aws)[0]["executionArn"])["input"]
    )
    with pytest.raises(TargetUnresolved) as refused:
        load_handler("PrepareFunction").prepare_handler(state, Context())
    for words in named:
        assert words in str(refused.value), str(refused.value)
    cause = json.dumps({"errorMessage": str(refused.value), "errorType": "TargetUnresolved"})
    failed = dict(state, failed_step="Prepare", error={"Error": "TargetUnresolved", "Cause": cause})
    load_handler("NotifyFunction").lambda_handler({"kind": "failed", "run": failed}, Context())
    mail = mail_text(sent_mail()[-1].raw_data)
    assert "TargetUnresolved" in mail and named[-1] in mail, mail


def test_predict_serves_the_champion_and_answers_mistakes_with_4xx(aws, load_handler, telco_csv):
    _promote_a_champion(aws, load_handler, telco_csv)
    predict = load_handler("PredictFunction")
    path, resource = "/v1/datasets/telco_churn/predict", "/v1/datasets/{dataset}/predict"
    record = dict(TELCO_RECORD)

    def call(body, dataset="telco_churn", query=None):
        p = path.replace("telco_churn", dataset)
        event = api_event("POST", p, resource, {"dataset": dataset}, body)
        event["queryStringParameters"] = query
        resp = predict.lambda_handler(event, Context())
        return resp["statusCode"], json.loads(resp["body"])

    status, body = call(
        json.dumps({"records": [record, dict(record, tenure=60, contract="Two year")]})
    )
    assert status == 200 and body["model_version"] == 1
    risky, loyal = body["predictions"]
    assert risky["score"] > loyal["score"] and risky["label"] in ("Yes", "No")
    assert status == 200 and len(risky["top_features"]) == 3
    # ?explain=false: the same scores and labels, without the contributions
    status, plain = call(json.dumps([record, dict(record, tenure=60)]), query={"explain": "false"})
    assert status == 200 and "top_features" not in plain["predictions"][0]
    assert plain["predictions"][0] == {k: risky[k] for k in ("score", "label")}
    status, body = call(json.dumps(record), query={"explain": "maybe"})
    assert status == 400 and body["errors"][0]["field"] == "explain"

    assert (
        call(json.dumps({"records": [dict(record, tenure="two")]}))[1]["errors"][0]["field"]
        == "tenure"
    )
    assert call("{not json")[0] == 400
    assert call(json.dumps([record] * 1001))[0] == 413
    assert call(json.dumps(record), dataset="nope")[0] == 404
    missing = {k: v for k, v in record.items() if k != "contract"}
    status, body = call(json.dumps(missing))
    assert status == 422 and body["errors"] == [
        {"record": 0, "field": "contract", "problem": "missing field"}
    ]

    assert call("x" * (3 * 1024 * 1024))[0] == 413  # body too large, before any parsing
    served = predict.lambda_handler(
        api_event("GET", "/openapi.json", "/openapi.json", None, None), Context()
    )
    from tabflow.openapi import document

    assert json.loads(served["body"]) == json.loads(json.dumps(document()))
    health = predict.lambda_handler(api_event("GET", "/health", "/health", None, None), Context())
    assert health["statusCode"] == 200
    info = predict.lambda_handler(
        api_event(
            "GET",
            "/v1/datasets/telco_churn/model",
            "/v1/datasets/{dataset}/model",
            {"dataset": "telco_churn"},
            None,
        ),
        Context(),
    )
    card = json.loads(info["body"])
    assert card["version"] == 1 and {g["name"] for g in card["gates"]} >= {
        "auc_floor",
        "calibration",
    }

    predict.capture.flush()  # captures leave on a background thread; make it write now
    s3 = boto3.client("s3", region_name=REGION)
    lake = aws.ref("LakeBucket")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=lake, Prefix="captures/telco_churn/").get("Contents", [])
    ]
    rows = sum(len(s3.get_object(Bucket=lake, Key=k)["Body"].read().splitlines()) for k in keys)
    assert rows == 4  # the records of the two successful requests, nothing of the rejected ones


def test_monitor_with_too_few_captures_does_not_alert(aws, load_handler, telco_csv):
    _promote_a_champion(aws, load_handler, telco_csv)
    before = len(sent_mail())
    out = load_handler("MonitorFunction").lambda_handler({"source": "aws.events"}, Context())
    assert out["datasets"][0]["status"] == "insufficient_data"
    assert len(sent_mail()) == before


@pytest.mark.parametrize("logical", ["PrepareFunction", "EvaluateFunction"])
def test_task_errors_propagate_by_name_for_the_state_machine_to_catch(aws, load_handler, logical):
    handler = load_handler(logical)
    entry = handler.prepare_handler if logical == "PrepareFunction" else handler.lambda_handler
    contract_uri = f"s3://{aws.ref('RawBucket')}/contracts/none.yaml"
    state = {
        "dataset": "telco_churn",
        "run_id": "r-x",
        "contract_uri": contract_uri,
        "curated_uri": "s3://nowhere/x.parquet",
    }
    if logical == "EvaluateFunction":  # Evaluate runs after Select: the state has $.train
        state["train"] = json.loads((EVENTS / "workflow" / "selection_output.json").read_text())
    with pytest.raises(ObjectNotFound, match="contracts/none.yaml"):
        entry(state, Context())


def test_a_task_refuses_a_malformed_event_naming_the_field(aws, load_handler):
    """The handler parses its event into the task's model (workflow.payloads): a candidate
    without its rows is refused before anything is read or written, naming the field."""
    from pydantic import ValidationError

    broken = json.loads((EVENTS / "workflow" / "candidate_output_linear.json").read_text())
    del broken["rows"]
    good = json.loads((EVENTS / "workflow" / "candidate_output_lightgbm.json").read_text())
    select = load_handler("SelectFunction").select_handler
    with pytest.raises(ValidationError, match=r"results\.1\.CandidateOutput\.rows"):
        select({"results": [good, broken]}, Context())


def test_rollback_restores_an_earlier_champion_by_conditional_write(
    aws, load_handler, telco_csv, capsys
):
    from tabflow.cli import registry_main

    _promote_a_champion(aws, load_handler, telco_csv)
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = aws.ref("RegistryTable")
    # A second version, promoted by hand from the first one's files.
    from tabflow.adapters.dynamodb import DynamoRegistry

    registry = DynamoRegistry(table, ddb)
    v1 = registry.get_version("telco_churn", 1)
    registry.put_version(v1.model_copy(update={"version": 2}))
    registry.set_champion("telco_churn", 2, expected=1)
    assert registry_main(["--table", table, "rollback", "telco_churn", "1"]) == 0
    assert registry.champion("telco_churn").version == 1
    assert registry_main(["--table", table, "rollback", "telco_churn", "9"]) == 1
    assert registry_main(["--table", table, "list", "telco_churn"]) == 0
    out = capsys.readouterr().out
    assert "* v1" in out and "  v2" in out


def test_no_client_input_makes_the_api_answer_5xx(aws, load_handler, telco_csv):
    """Random bodies, fields and values (a bounded fuzz), hostile shapes among them, sent as
    text or base64 in several encodings: every answer is 200 or a 4xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    _promote_a_champion(aws, load_handler, telco_csv)
    predict = load_handler("PredictFunction")
    fields = [
        "tenure",
        "contract",
        "monthly_charges",
        "female",
        "payment_method",
        "total_charges",
        "x",
    ]
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True),
        st.text(max_size=20),
        st.sampled_from(["Month-to-month", "Yes", "No", "DSL", "1e309"]),
    )
    record = st.dictionaries(
        st.sampled_from(fields), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=7
    )
    bodies = st.one_of(
        st.text(max_size=50),
        record.map(json.dumps),
        st.lists(record, max_size=5).map(json.dumps),
        st.lists(record, max_size=3).map(lambda r: json.dumps({"records": r})),
        st.just("null"),
        st.just("[]"),
        st.just('{"records": null}'),
        st.just("1e999"),
    )
    # Complete records with a value or two changed: the column-at-a-time checks see these.
    nearly_valid = st.lists(
        st.dictionaries(st.sampled_from(fields), scalars, max_size=2).map(
            lambda changes: dict(TELCO_RECORD, **changes)
        ),
        min_size=1,
        max_size=4,
    ).map(json.dumps)
    # Hostile shapes (issue 12): deep nesting, huge numbers, NaN, duplicate keys, lone
    # surrogates, long values of a strict category, and valid records around them.
    valid = json.dumps(TELCO_RECORD)
    hostile = st.one_of(
        st.integers(60, 20_000).map(lambda n: "[" * n + "]" * n),
        st.integers(60, 20_000).map(lambda n: '{"records": ' + "[" * n),
        st.integers(60, 5_000).map(lambda n: '{"records": [' + '{"x":' * n + "1" + "}" * n + "]}"),
        st.integers(290, 6_000).map(lambda n: valid.replace('"tenure": 2', f'"tenure": {"9" * n}')),
        st.sampled_from(["1e999", "-1E+400", "NaN", "Infinity", "1e-999", "-0"]).map(
            lambda v: valid.replace("95.5", v)
        ),
        st.sampled_from(['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"']).map(
            lambda v: valid.replace('"Month-to-month"', v)
        ),
        st.just('{"tenure": 70, ' + valid[1:]),  # a duplicate key
        st.integers(100, 200_000).map(lambda n: valid.replace("Month-to-month", "\u00e9" * n)),
    )
    bodies = st.one_of(bodies, nearly_valid, hostile)
    # How the body travels: as text, or base64 (API Gateway's binary bodies) in UTF-8, UTF-16,
    # gzip (with its Content-Encoding), or with a byte-order mark.
    transports = st.sampled_from(["text", "base64", "utf-16", "gzip", "bom"])
    datasets = st.sampled_from(["telco_churn", "nope", "../etc", "a" * 300, "%00"])
    queries = st.sampled_from([None, {"explain": "false"}, {"explain": "TRUE"}, {"explain": ""}])

    def encoded(body: str, transport: str) -> tuple[str, bool, dict[str, str]]:
        if transport == "text":
            return body, False, {}
        data = body.encode("utf-8", "surrogatepass")
        if transport == "utf-16":
            data = body.encode("utf-16", "surrogatepass")
        elif transport == "gzip":
            data = gzip.compress(data)
        elif transport == "bom":
            data = b"\xef\xbb\xbf" + data
        headers = {"Content-Encoding": "gzip"} if transport == "gzip" else {}
        return base64.b64encode(data).decode(), True, headers

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies, transports, datasets, queries)
    def fuzz(body, transport, dataset, query):
        path = f"/v1/datasets/{dataset}/predict"
        sent, is_b64, headers = encoded(body, transport)
        event = api_event(
            "POST", path, "/v1/datasets/{dataset}/predict", {"dataset": dataset}, sent
        )
        event["queryStringParameters"] = query
        event["isBase64Encoded"] = is_b64
        event["headers"].update(headers)
        resp = predict.lambda_handler(event, Context())
        assert resp["statusCode"] < 500, (body[:200], transport, resp)
        if resp["statusCode"] >= 400:  # an error names the problem, without echoing it whole
            assert json.loads(resp["body"])["message"] and len(resp["body"]) < 60_000

    fuzz()
