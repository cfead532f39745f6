"""The object an S3 event names, once, through the ingest and batch handlers under moto.

- A file whose every row is invalid is rejected with a report, one email, and a compact
  quarantine (Parquet) holding every row with its reasons (the defect: a JSON Lines file 57x
  the input, built from a Python dict per row, 2.2 GB for an 8 MB file).
- A batch file's event delivered twice is scored once: the second delivery writes no
  predictions, captures, report or email (the defect: scored twice). A rejected batch file is
  not remembered: delivered again once a champion exists, it is scored. A new version of the
  key is scored again.
- An overwrite between the event and the read: the handlers read the event's version (the raw
  bucket is versioned), or, when the event carries none, skip it (the newer object's own
  event processes it), never processing the newer bytes under the older event."""

import copy
import hashlib
import io
import json
import logging
from urllib.parse import quote_plus

import boto3
import pyarrow.parquet as pq
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.integration.conftest import Context, s3_put_event
from tests.integration.model_runs import fit_runs, materialize

REGION = "us-east-1"


def s3() -> object:
    return boto3.client("s3", region_name=REGION)


def upload(bucket: str, key: str, data: bytes, *, with_version: bool = True) -> dict:
    """Put the object; the S3 event AWS sends for it (with its versionId: versioned bucket)."""
    response = s3().put_object(Bucket=bucket, Key=key, Body=data)
    event = s3_put_event(bucket, quote_plus(key), len(data), response["ETag"].strip('"'))
    if with_version:
        assert response.get("VersionId"), "the raw bucket is versioned in template.yaml"
        event["Records"][0]["s3"]["object"]["versionId"] = response["VersionId"]
    return event


def read(uri: str) -> bytes:
    bucket, key = uri[5:].split("/", 1)
    return s3().get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(bucket: str, prefix: str) -> list[str]:
    pages = s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def mail_count() -> int:
    return len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def rows(telco_csv: bytes, start: int, stop: int) -> bytes:
    lines = telco_csv.splitlines()
    return b"\n".join([lines[0], *lines[1 + start : 1 + stop]]) + b"\n"


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(1, telco_csv, telco_contract_text)


def promote_champion(aws, load_handler, fits) -> int:
    (run,) = materialize(fits, aws, "exact")
    out = load_handler("PromoteFunction").lambda_handler(copy.deepcopy(run.state), Context())
    return out["version"]


def test_an_all_invalid_file_is_rejected_with_every_row_in_a_compact_quarantine(
    aws, load_handler, telco_csv
):
    ingest = load_handler("IngestFunction")
    raw = aws.ref("RawBucket")
    header = telco_csv.splitlines()[0]
    n = 20_000
    data = header + b"\n" + (b",".join([b"x"] * len(header.split(b","))) + b"\n") * n
    before = mail_count()
    (out,) = ingest.lambda_handler(upload(raw, "incoming/telco_churn/junk.csv", data), Context())[
        "files"
    ]
    assert out["status"] == "rejected" and "100.0%" in out["problems"][0]
    assert out["counts"] == {"rows_in": n, "curated": 0, "quarantined": n, "duplicates": 0}
    assert mail_count() == before + 1
    report = json.loads(read(out["report_uri"]))
    uri = report["quarantine_uri"]
    assert uri.startswith(f"s3://{raw}/quarantine/telco_churn/") and uri.endswith(".parquet")
    body = read(uri)
    assert len(body) < len(data) // 4  # the JSON Lines were 57x the input
    table = pq.read_table(io.BytesIO(body))
    assert table.num_rows == n and table.column("line").to_pylist() == list(range(2, n + 2))
    reasons = table.column("reasons").combine_chunks()
    wrong = [reasons.type.field(i).name for i in range(reasons.type.num_fields)]
    assert "customer_id" not in wrong and {"churn", "tenure", "female"} <= set(wrong)
    for i, _ in enumerate(wrong):  # every row has this column's reason
        assert reasons.field(i).null_count == 0
    assert set(table.column("row").combine_chunks().field("tenure").to_pylist()) == {"x"}


def test_a_batch_event_delivered_twice_is_scored_once(aws, load_handler, telco_csv, fits, caplog):
    batch = load_handler("BatchFunction")
    raw, lake = aws.ref("RawBucket"), aws.ref("LakeBucket")
    event = upload(raw, "batch/telco_churn/week.csv", rows(telco_csv, 0, 40))

    # No champion yet: rejected, and not remembered
    (first,) = batch.lambda_handler(event, Context())["files"]
    assert first["status"] == "rejected"
    promote_champion(aws, load_handler, fits)
    # The same event again (the rejection said: fix and re-deliver): now scored
    (scored,) = batch.lambda_handler(copy.deepcopy(event), Context())["files"]
    assert scored["status"] == "scored" and scored["counts"]["curated"] == 40
    written = {p: keys(lake, p) for p in ("predictions/", "captures/", "reports/")}
    predictions = read(scored["predictions_uri"])
    mails = mail_count()

    caplog.clear()
    with caplog.at_level(logging.INFO):
        (again,) = batch.lambda_handler(copy.deepcopy(event), Context())["files"]
    assert again == scored  # the stored result, nothing scored again
    assert {p: keys(lake, p) for p in written} == written  # no second capture or report
    assert read(scored["predictions_uri"]) == predictions and mail_count() == mails
    (skipped,) = [r for r in caplog.records if "duplicate event skipped" in r.getMessage()]
    assert "version" in skipped.reason and skipped.predictions_uri == scored["predictions_uri"]

    # A new upload of the key is a new version: scored again
    newer = upload(raw, "batch/telco_churn/week.csv", rows(telco_csv, 40, 70))
    (rescored,) = batch.lambda_handler(newer, Context())["files"]
    assert rescored["status"] == "scored" and rescored["counts"]["curated"] == 30


def test_ingest_reads_the_version_the_event_names(aws, load_handler, telco_csv, caplog):
    ingest = load_handler("IngestFunction")
    raw = aws.ref("RawBucket")
    monday, tuesday = rows(telco_csv, 0, 300), rows(telco_csv, 300, 500)
    key = "incoming/telco_churn/export.csv"
    first = upload(raw, key, monday)
    second = upload(raw, key, tuesday)  # overwritten before the first event is handled

    (late,) = ingest.lambda_handler(second, Context())["files"]
    (early,) = ingest.lambda_handler(first, Context())["files"]
    assert late["status"] == early["status"] == "accepted"
    assert (late["counts"]["curated"], early["counts"]["curated"]) == (200, 300)
    report = json.loads(read(early["report_uri"]))
    assert report["sha256"] == hashlib.sha256(monday).hexdigest()
    assert report["version_id"] == first["Records"][0]["s3"]["object"]["versionId"]

    # An event without a version (an unversioned bucket, the offline stack): the object is
    # read only while its ETag is the event's; replaced since, the event is skipped.
    stale = upload(raw, "incoming/telco_churn/daily.csv", monday, with_version=False)
    upload(raw, "incoming/telco_churn/daily.csv", tuesday, with_version=False)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        (skipped,) = ingest.lambda_handler(stale, Context())["files"]
    assert skipped["status"] == "skipped" and "replaced since the event" in skipped["problems"][0]
    assert any("replaced after this event" in r.getMessage() for r in caplog.records)
    assert not [k for k in keys(aws.ref("LakeBucket"), "curated/") if skipped["run_id"] in k]


def test_batch_reads_the_version_the_event_names(aws, load_handler, telco_csv, fits):
    batch = load_handler("BatchFunction")
    raw = aws.ref("RawBucket")
    promote_champion(aws, load_handler, fits)
    key = "batch/telco_churn/day.csv"
    first = upload(raw, key, rows(telco_csv, 0, 25))
    upload(raw, key, rows(telco_csv, 25, 35))
    (out,) = batch.lambda_handler(first, Context())["files"]
    assert out["status"] == "scored" and out["counts"]["curated"] == 25
    stale = upload(raw, "batch/telco_churn/night.csv", rows(telco_csv, 0, 5), with_version=False)
    upload(raw, "batch/telco_churn/night.csv", rows(telco_csv, 5, 9), with_version=False)
    (skipped,) = batch.lambda_handler(stale, Context())["files"]
    assert skipped["status"] == "skipped"
