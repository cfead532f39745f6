"""PII through every entry point that stores data, under moto with the template's resources:
ingest, training, batch scoring, the API (captures) and the monitor's retraining merge.

One messy orders export whose id (``order_id``), entity (``customer``) and e-mail are
``pii: hash``, whose phone number is ``pii: drop`` and whose ``tax_id`` is ``pii: hash`` with
one unreadable value. Every raw value has a shape no other data has, so the scan at the end
can look for the shapes in every object of every bucket: outside the raw bucket (the dropped
files and their quarantine, by design) there must be none, and no unsalted sha256 either.
The expected hashes are computed here from the secret's value (HMAC-SHA256), not by tabflow."""

import hashlib
import hmac
import importlib.util
import io
import json
import re
import uuid
from types import ModuleType

import boto3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from offline_aws.deploy import Deployment, deploy
from tabflow.adapters.clients import client as cached_client
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event, s3_put_event
from tests.unit.test_feature_engineering import orders_frame

REGION = "us-east-1"
DATASET = "orders"
ROWS = 1200
SERVED = 120  # rows scored by the API and by batch, then labelled

# The raw values' shapes: any match outside the raw bucket is a leak.
LEAKS = {
    "order id": rb"ORDER-\d{6}",
    "customer": rb"customer\d+\.private@example\.net",
    "e-mail": rb"person\d+@example\.com",
    "phone": rb"\+1-555-\d{7}",
    "tax id": rb"tax-id-unknown-\d+",
}
BAD_TAX_ID = "tax-id-unknown-4711"


def pii_contract() -> str:
    text = (ROOT / "tests" / "data" / "orders.yaml").read_text()
    for old, new in {
        "order_id: {type: string, nullable: false,": "order_id: {type: string, pii: hash, nullable: false,",
        "customer: {type: string, nullable: false,": "customer: {type: string, pii: hash, nullable: false,",
        "  email: {type: string, pii: hash}\n": "  email: {type: string, pii: hash}\n"
        "  phone: {type: string, required: false, pii: drop}\n"
        "  tax_id: {type: int, required: false, pii: hash, feature: false}\n",
    }.items():
        assert old in text
        text = text.replace(old, new)
    # A small tuning budget: these tests are about where values go, not about model quality.
    return text + "monitoring: {retrain_on: decay}\ntraining: {tuning: {trials: 2, folds: 2}}\n"


def raw_frame(n: int = ROWS) -> pd.DataFrame:
    """Orders as the export holds them: raw ids, e-mail addresses, phone numbers."""
    frame = orders_frame(n, seed=7)
    return frame.assign(
        order_id=[f"ORDER-{i:06d}" for i in range(n)],
        customer=[f"customer{c[1:]}.private@example.net" for c in frame["customer"]],
        email=[f"person{i}@example.com" for i in range(n)],
        phone=[f"+1-555-{i:07d}" for i in range(n)],
        tax_id=[str(900_000_000 + i) for i in range(n)],
    )


def export_csv(frame: pd.DataFrame) -> bytes:
    out = frame.assign(
        ordered_at=frame["ordered_at"].dt.strftime("%Y-%m-%d %H:%M"),
        discount=[f"{v * 100:g}%" for v in frame["discount"]],
    )
    return out.to_csv(index=False).encode()


def api_record(row: pd.Series) -> dict:
    """The row as a client sends it: raw id, raw entity, and PII the model does not read."""
    return {
        "order_id": row["order_id"],
        "customer": row["customer"],
        "email": row["email"],
        "phone": row["phone"],
        "ordered_at": f"{row['ordered_at']:%Y-%m-%dT%H:%M:00Z}",
        "amount": float(row["amount"]),
        "discount": f"{row['discount'] * 100:g}%",  # as the export spells it
        "qty": int(row["qty"]),
        "channel": row["channel"],
    }


def keyed(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def put(bucket: str, key: str, data: bytes) -> dict:
    s3 = boto3.client("s3", region_name=REGION)
    etag = s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
    return s3_put_event(bucket, key, len(data), etag)


def read(uri_or_bucket: str, key: str | None = None) -> bytes:
    if key is None:
        uri_or_bucket, key = uri_or_bucket[5:].split("/", 1)
    s3 = boto3.client("s3", region_name=REGION)
    return s3.get_object(Bucket=uri_or_bucket, Key=key)["Body"].read()


def keys(bucket: str, prefix: str = "") -> list[str]:
    s3 = boto3.client("s3", region_name=REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def load_handler(dep: Deployment, mp: pytest.MonkeyPatch, logical: str) -> ModuleType:
    """functions/<name>/app.py imported as Lambda does, with the function's environment."""
    spec = dep.function_by_logical(logical)
    for key, value in spec.environment.items():
        mp.setenv(key, value)
    mp.setenv("AWS_LAMBDA_FUNCTION_NAME", spec.name)
    module_spec = importlib.util.spec_from_file_location(
        f"handler_{logical}_{uuid.uuid4().hex}", spec.code_dir / "app.py"
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def train_and_promote(dep: Deployment, mp: pytest.MonkeyPatch, state: dict) -> dict:
    """The workflow's task handlers in the state machine's order, on the ingest's payload."""
    load = lambda logical: load_handler(dep, mp, logical)  # noqa: E731
    state = dict(state)
    state["prepare"] = load("PrepareFunction").prepare_handler(state, Context())
    trial = load("TrialFunction").trial_handler
    state["trials"] = [
        trial({**state, "trial": t, "split_uri": state["prepare"]["split_uri"]}, Context())
        for t in state["prepare"]["trials"]
    ]
    train = load("TrainFunction").lambda_handler
    candidates = [train({"candidate": c, "run": state}, Context()) for c in ("lightgbm", "linear")]
    state["train"] = load("SelectFunction").select_handler({"results": candidates}, Context())
    state["evaluation"] = load("EvaluateFunction").lambda_handler(state, Context())
    assert state["evaluation"]["promote"], state["evaluation"]
    state["promotion"] = load("PromoteFunction").lambda_handler(state, Context())
    return state


def predict_event(records: list[dict]) -> dict:
    return api_event(
        "POST",
        f"/v1/datasets/{DATASET}/predict",
        "/v1/datasets/{dataset}/predict",
        {"dataset": DATASET},
        json.dumps({"records": records}),
    )


@pytest.fixture(scope="module")
def flows():
    """Every flow once (training is the slow part): ingest, train, batch, API, monitor."""
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
        dep = deploy(ROOT, "tabflow-pii", lambda s: boto3.client(s, region_name=REGION))
        raw, lake = dep.ref("RawBucket"), dep.ref("LakeBucket")
        s3 = boto3.client("s3", region_name=REGION)
        sm = boto3.client("secretsmanager", region_name=REGION)
        salt = sm.get_secret_value(SecretId=dep.ref("PiiSaltSecret"))["SecretString"]
        s3.put_object(Bucket=raw, Key=f"contracts/{DATASET}.yaml", Body=pii_contract().encode())
        frame = raw_frame()
        data = export_csv(frame)
        # One row's tax id is unreadable: it is quarantined, and the report says why without
        # repeating the value.
        lines = data.decode().splitlines()
        lines[6] = lines[6].replace(f",{900_000_005}", f",{BAD_TAX_ID}")
        data = ("\n".join(lines) + "\n").encode()
        out = {"dep": dep, "salt": salt, "frame": frame}

        ingest = load_handler(dep, mp, "IngestFunction")
        out["ingest"] = ingest.lambda_handler(
            put(raw, f"incoming/{DATASET}/export.csv", data), Context()
        )["files"][0]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        (execution,) = sfn.list_executions(stateMachineArn=dep.ref("TrainingStateMachine"))[
            "executions"
        ]
        state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        out["state"] = train_and_promote(dep, mp, state)

        # Batch scoring: the first rows without the target, plus one unreadable row.
        served = frame.head(SERVED)
        batch_rows = served.drop(columns=["returned"])
        batch_csv = export_csv(batch_rows).decode().splitlines()
        batch_csv += export_csv(batch_rows.head(1).assign(qty="lots")).decode().splitlines()[1:]
        batch = load_handler(dep, mp, "BatchFunction")
        out["batch"] = batch.lambda_handler(
            put(raw, f"batch/{DATASET}/to score.csv", ("\n".join(batch_csv) + "\n").encode()),
            Context(),
        )["files"][0]

        # The API: the same rows in one request (per-entity features see the same earlier
        # rows as in the batch file), as a client sends them: raw ids, e-mail, phone.
        predict = load_handler(dep, mp, "PredictFunction")
        captures_before = set(keys(lake, f"captures/{DATASET}/"))
        records = [api_record(row) for _, row in served.iterrows()]
        response = predict.lambda_handler(predict_event(records), Context())
        assert response["statusCode"] == 200, response["body"]
        out["answer"] = json.loads(response["body"])
        out["api_capture_keys"] = sorted(set(keys(lake, f"captures/{DATASET}/")) - captures_before)

        # Monitor: the truth arrives (keyed by the raw ids the business knows), and it is the
        # opposite of what the model learned: decay, and retraining with the labelled captures.
        flipped = {
            r: "no" if y == "yes" else "yes"
            for r, y in zip(served["order_id"], served["returned"], strict=True)
        }
        labels = "order_id,returned\n" + "".join(f"{i},{y}\n" for i, y in flipped.items())
        s3.put_object(Bucket=raw, Key=f"labels/{DATASET}/truth.csv", Body=labels.encode())
        out["flipped"] = flipped
        monitor = load_handler(dep, mp, "MonitorFunction")
        out["monitor"] = monitor.lambda_handler({"datasets": [DATASET]}, Context())["datasets"][0]
        yield out
        cached_client.cache_clear()


def test_ingest_hashes_pii_with_the_secret_salt_and_drops_what_it_must(flows):
    salt, frame, outcome = flows["salt"], flows["frame"], flows["ingest"]
    assert outcome["status"] == "accepted", outcome
    assert outcome["counts"] == {
        "rows_in": ROWS,
        "curated": ROWS - 1,
        "quarantined": 1,
        "duplicates": 0,
    }
    curated = pd.read_parquet(io.BytesIO(read(flows["state"]["curated_uri"])))
    assert "phone" not in curated  # pii: drop
    expected = frame.drop(index=5).reset_index(drop=True)
    for column in ("order_id", "customer", "email"):
        assert curated[column].tolist() == [keyed(salt, v) for v in expected[column]], column
    assert curated["tax_id"].iloc[0] == keyed(salt, "900000000")  # hashed as its typed value
    # The report names the unreadable tax id's problem, not its value; the quarantine (raw
    # bucket, beside the file the user must fix) keeps the raw row.
    report = json.loads(read(outcome["report_uri"]))
    (example,) = report["columns"]["tax_id"]["invalid_examples"]
    assert example == {"value": "[redacted: pii]", "reason": "not a number (int)"}
    assert BAD_TAX_ID not in json.dumps(report)
    assert BAD_TAX_ID.encode() in read(report["quarantine_uri"])
    assert report["quarantine_uri"].startswith(f"s3://{flows['dep'].ref('RawBucket')}/")


def test_training_keeps_the_policy_with_the_model_and_no_raw_entity(flows):
    dep = flows["dep"]
    models = dep.ref("ModelBucket")
    champion = flows["state"]["promotion"]
    spec_keys = [k for k in keys(models, f"{DATASET}/") if k.endswith("/features.json")]
    # the champion's release (the run's own prefix) carries the feature spec it serves
    release = champion["model_uri"].rsplit("/", 1)[0].split("/", 3)[3]
    assert f"{release}/features.json" in spec_keys, spec_keys
    hashed_customers = {keyed(flows["salt"], c) for c in flows["frame"]["customer"]}
    for key in spec_keys:
        spec = json.loads(read(models, key))
        assert spec["pii"] == {
            "order_id": "hash",
            "customer": "hash",
            "email": "hash",
            "phone": "drop",
            "tax_id": "hash",
        }
        customers = set(spec["history"]["amount"])  # per-entity history, keyed by hash
        assert customers and customers <= hashed_customers


def test_batch_scoring_hashes_with_the_salt_and_scores_like_the_api(flows):
    salt, frame, outcome = flows["salt"], flows["frame"], flows["batch"]
    assert outcome["status"] == "scored", outcome
    assert outcome["counts"]["curated"] == SERVED and outcome["counts"]["quarantined"] == 1
    predictions = pd.read_csv(io.BytesIO(read(outcome["predictions_uri"])))
    served = frame.head(SERVED)
    # The salted key, not sha256("ORDER-000001") that anyone can recompute.
    assert predictions["order_id"].tolist() == [keyed(salt, v) for v in served["order_id"]]
    assert hashlib.sha256(b"ORDER-000000").hexdigest() not in set(predictions["order_id"])
    assert predictions["line"].tolist() == list(range(2, SERVED + 2))  # back to the file's rows
    api_scores = [p["score"] for p in flows["answer"]["predictions"]]
    np.testing.assert_allclose(predictions["score"], api_scores, atol=2e-6)
    report = json.loads(read(outcome["report_uri"]))
    assert report["quarantine_uri"].startswith(f"s3://{flows['dep'].ref('RawBucket')}/")


def test_api_captures_hold_hashed_ids_and_entities_never_raw_values(flows):
    salt, served = flows["salt"], flows["frame"].head(SERVED)
    dep = flows["dep"]
    lake = dep.ref("LakeBucket")
    assert flows["api_capture_keys"]
    rows = [
        json.loads(line)
        for key in flows["api_capture_keys"]
        for line in read(lake, key).decode().splitlines()
    ]
    assert len(rows) == SERVED
    assert [r["_id"] for r in rows] == [keyed(salt, v) for v in served["order_id"]]
    assert [r["customer"] for r in rows] == [keyed(salt, v) for v in served["customer"]]
    for row in rows:
        assert "email" not in row and "phone" not in row and "order_id" not in row
        assert not any("@" in str(v) or "ORDER-" in str(v) for v in row.values())


def test_the_monitor_joins_raw_labels_to_hashed_captures_and_merges_by_the_same_key(flows):
    salt, frame, check = flows["salt"], flows["frame"], flows["monitor"]
    assert check["decay"]["status"] == "decay", check["decay"]
    assert check["decay"]["labelled"] == 2 * SERVED  # API and batch captures, both joined
    retraining = check["retraining"]
    assert retraining["labelled_rows_added"] == 2 * SERVED
    merged = pd.read_parquet(io.BytesIO(read(retraining["curated_uri"])))
    # The labelled captures replaced their rows (same hashed id): the curated rows plus the
    # one served row that ingest had quarantined (ORDER-000005), each id once.
    assert len(merged) == ROWS and merged["order_id"].is_unique
    expected = {keyed(salt, i): y for i, y in flows["flipped"].items()}
    got = merged[merged["order_id"].isin(list(expected))]
    assert dict(zip(got["order_id"], got["returned"], strict=True)) == expected
    hashed_customers = {keyed(salt, c) for c in frame["customer"]}
    assert set(merged["customer"]) <= hashed_customers


def _objects(bucket: str):
    """Every version of every object of the bucket, as bytes (Parquet also decoded)."""
    s3 = boto3.client("s3", region_name=REGION)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])[
                "Body"
            ].read()
            if body[:4] == b"PAR1":
                table = pq.read_table(io.BytesIO(body))
                body += json.dumps(table.to_pylist(), default=str).encode()
            yield version["Key"], body


def test_no_bucket_but_the_raw_one_holds_a_raw_or_unsalted_pii_value(flows):
    dep, salt, frame = flows["dep"], flows["salt"], flows["frame"]
    raw_values = [v for c in ("order_id", "customer", "email") for v in frame[c]]
    unsalted = {hashlib.sha256(v.encode()).hexdigest() for v in raw_values}
    salted = {keyed(salt, v) for v in raw_values}
    s3 = boto3.client("s3", region_name=REGION)
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    raw = dep.ref("RawBucket")
    assert {raw, dep.ref("LakeBucket"), dep.ref("ModelBucket")} <= set(buckets)
    leaks, found_in_raw, hashes_seen, scanned = [], set(), set(), 0
    for bucket in buckets:
        for key, body in _objects(bucket):
            scanned += 1
            for name, pattern in LEAKS.items():
                if re.search(pattern, body):
                    if bucket == raw:
                        found_in_raw.add(name)
                    else:
                        leaks.append((bucket, key, name))
            tokens = set(re.findall(rb"[0-9a-f]{64}", body))
            hashes_seen |= {t.decode() for t in tokens} if bucket != raw else set()
    assert scanned > 30
    assert leaks == []
    assert found_in_raw == set(LEAKS)  # the scan does find them where they belong
    assert not hashes_seen & unsalted
    assert len(hashes_seen & salted) > ROWS  # the salted keys are there instead
