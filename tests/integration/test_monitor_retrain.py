"""The Monitor function through its handler under moto, with the environment and the IAM role
the template gives it: labelled captures reach the retraining data, the role allows exactly
what the handler writes, and PSI is one CloudWatch metric with a feature dimension."""

import fnmatch
import io
import json

import boto3
import pandas as pd

from offline_aws.demo import typed_records
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.test_handlers import REGION, _promote_a_champion, executions

DATASET = "telco_churn"


def _statements(aws, logical: str) -> list[dict]:
    """The Allow statements of the function's role, as deployed from template.yaml."""
    iam = boto3.client("iam", region_name=REGION)
    role = f"{aws.function_by_logical(logical).name}-role"[:64]
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        out += [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    return out


def _allowed(statements: list[dict], action: str, bucket: str, key: str) -> bool:
    arn = f"arn:aws:s3:::{bucket}/{key}"
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if action in actions and any(fnmatch.fnmatchcase(arn, r) for r in resources):
            return True
    return False


def _lake_keys(lake: str) -> set[str]:
    s3 = boto3.client("s3", region_name=REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=lake)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _serve(load_handler, records: list[dict]) -> None:
    """Records through the prediction handler, as clients send them; captures written."""
    predict = load_handler("PredictFunction")
    path, resource = f"/v1/datasets/{DATASET}/predict", "/v1/datasets/{dataset}/predict"
    for i in range(0, len(records), 100):
        body = json.dumps({"records": records[i : i + 100]})
        event = api_event("POST", path, resource, {"dataset": DATASET}, body)
        assert predict.lambda_handler(event, Context())["statusCode"] == 200
    predict.capture.flush()


def test_labelled_captures_reach_the_retraining_data_through_the_monitor_handler(
    aws, load_handler, telco_csv, capsys
):
    """One champion serves both checks (training it is the slow part)."""
    _promote_a_champion(aws, load_handler, telco_csv)
    s3 = boto3.client("s3", region_name=REGION)
    raw, lake = aws.ref("RawBucket"), aws.ref("LakeBucket")
    contract = (ROOT / "datasets" / f"{DATASET}.yaml").read_text()
    contract = contract.replace("monitoring:\n", "monitoring:\n  retrain_on: decay\n", 1)
    s3.put_object(Bucket=raw, Key=f"contracts/{DATASET}.yaml", Body=contract.encode())

    records = typed_records(ROOT, 300)
    _serve(load_handler, records)
    # The truth arrives later, and the world changed: the opposite of what the model learned.
    flipped = {r["customer_id"]: "No" if r["churn"] == "Yes" else "Yes" for r in records}
    labels = "customer_id,churn\n" + "".join(f"{i},{c}\n" for i, c in flipped.items())
    s3.put_object(Bucket=raw, Key=f"labels/{DATASET}/2026-11.csv", Body=labels.encode())

    before = _lake_keys(lake)
    runs_before = len(executions(aws))
    capsys.readouterr()
    out = load_handler("MonitorFunction").lambda_handler({"datasets": [DATASET]}, Context())
    _psi_is_one_metric_with_a_feature_dimension(capsys.readouterr().out, out)
    (check,) = out["datasets"]
    assert check["decay"]["status"] == "decay" and check["decay"]["labelled"] == 300
    retraining = check["retraining"]
    assert retraining["labelled_rows_added"] == 300
    assert len(executions(aws)) == runs_before + 1

    sfn = boto3.client("stepfunctions", region_name=REGION)
    (run,) = [e for e in executions(aws) if e["name"] == retraining["run_id"]]
    payload = json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"])
    bucket, key = payload["curated_uri"][5:].split("/", 1)
    assert bucket == lake and key.startswith(f"curated/{DATASET}/run=retrain-")
    data = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    labelled = data[data["customer_id"].isin(list(flipped))]
    assert len(labelled) == 300  # every labelled capture is in the new run's data, once
    assert dict(zip(labelled["customer_id"], labelled["churn"], strict=True)) == flipped
    assert len(data) == 7043  # they replace the older copies of the same customers

    # The role from template.yaml allows every object the handler wrote and the data it read,
    # and no write to curated data beyond the retraining runs.
    statements = _statements(aws, "MonitorFunction")
    written = _lake_keys(lake) - before
    assert key in written
    assert all(_allowed(statements, "s3:PutObject", lake, k) for k in written), written
    (source,) = [k for k in before if k.startswith(f"curated/{DATASET}/")]
    assert _allowed(statements, "s3:GetObject", lake, source)
    assert not _allowed(statements, "s3:PutObject", lake, source)


def _psi_is_one_metric_with_a_feature_dimension(stdout: str, out: dict) -> None:
    """The handler's EMF documents: one metric name "PSI", with dataset, service and feature
    dimensions, one document per feature and the score, each value the report's PSI."""
    documents = []
    for line in stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            documents.append(doc)
    names = {
        m["Name"]
        for d in documents
        for directive in d["_aws"]["CloudWatchMetrics"]
        for m in directive["Metrics"]
    }
    assert "PSI" in names and not [n for n in names if n.startswith("PSI.")], names
    psi = [d for d in documents if "PSI" in d]
    for d in psi:
        (directive,) = d["_aws"]["CloudWatchMetrics"]
        assert set(directive["Dimensions"][0]) == {"dataset", "service", "feature"}
        assert d["dataset"] == DATASET
    drift = out["datasets"][0]["drift"]
    expected = {f["feature"]: f["psi"] for f in drift["features"]} | {
        "score": drift["score"]["psi"]
    }
    values = {d["feature"]: d["PSI"][0] if isinstance(d["PSI"], list) else d["PSI"] for d in psi}
    assert values == expected
