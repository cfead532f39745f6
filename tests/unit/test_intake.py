"""The intake ingest and batch scoring share (tabflow.intake): the same bad file is refused the
same way through either door, each under its own run id and folders; the raw file is never
touched; a batch file whose rows were checked but which cannot be scored keeps its quarantine
and its counts in the report."""

import io
import json
from urllib.parse import unquote_plus

import pandas as pd
import pytest

from tabflow.adapters.memory import (
    MemoryMailer,
    MemoryRegistry,
    MemoryStore,
    MemoryTables,
    MemoryWorkflow,
)
from tabflow.file_scoring import BatchConfig, score_object
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.quarantine import read_quarantine

NOTIFY = "owner@example.com"


@pytest.fixture
def world(telco_contract_text):
    store = MemoryStore()
    contract = telco_contract_text + f"notify: [{NOTIFY}]\n"
    store.put("s3://raw/contracts/telco_churn.yaml", contract.encode())
    return store, MemoryMailer()


def _export(telco_csv: bytes, rows: int = 50) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(telco_csv), dtype=str, keep_default_na=False).head(rows)


def _dropped(store, key, data) -> dict:
    """The object put where S3 keeps it (decoded), and what its event says (key URL-encoded)."""
    store.put(f"s3://raw/{unquote_plus(key)}", data)
    return {"key": key, "etag": "e1", "size": len(data), "store": store}


def _ingest(store, mailer, key, data):
    config = IngestConfig("raw", "lake", ["ops@example.com"], 1 << 30)
    workflow = MemoryWorkflow()
    return ingest_object(
        **_dropped(store, key, data),
        config=config,
        tables=MemoryTables(store),
        workflow=workflow,
        mailer=mailer,
    )


def _batch(store, mailer, key, data):
    config = BatchConfig("raw", "lake", ["ops@example.com"], 1 << 30)
    return score_object(
        **_dropped(store, key, data), config=config, registry=MemoryRegistry(), mailer=mailer
    )


def test_a_file_missing_a_column_is_refused_alike_by_ingest_and_batch(world, telco_csv):
    store, mailer = world
    frame = _export(telco_csv).drop(columns=["tenure", "churn"])
    data = frame.to_csv(index=False).encode()

    batch = _batch(store, mailer, "batch/telco_churn/nov+2026.csv", data)
    ingest = _ingest(store, mailer, "incoming/telco_churn/nov+2026.csv", data)

    assert batch["status"] == "rejected" and ingest.status == "rejected"
    assert any("tenure" in p for p in batch["problems"])
    # ingest needs the target too; the problem with the feature column is the same text
    assert [p for p in batch["problems"] if "tenure" in p] == [
        p for p in ingest.problems if "tenure" in p
    ]
    run_id = batch["report_uri"].split("batch=")[1].split("/")[0]
    assert run_id.startswith("b-") and ingest.run_id.startswith("r-")
    assert batch["report_uri"] == f"s3://lake/reports/telco_churn/batch={run_id}/validation.json"
    assert ingest.report_uri.endswith(f"/reports/telco_churn/run={ingest.run_id}/validation.json")
    report = json.loads(store.get(batch["report_uri"]))
    assert report["kind"] == "batch scoring" and report["status"] == "rejected"
    assert report["file"] == "s3://raw/batch/telco_churn/nov 2026.csv"  # the decoded key
    assert report["emailed_to"] == [NOTIFY] and report["problems"] == batch["problems"]
    assert b"tenure" in store.get(batch["report_uri"].replace(".json", ".html"))
    # one email each, to the contract's notify list, naming the file
    (b_email, b_to), (i_email, i_to) = mailer.sent
    assert b_to == i_to == [NOTIFY]
    assert "nov 2026.csv" in b_email.text and "tenure" in b_email.text
    # the raw files are untouched
    assert store.get("s3://raw/batch/telco_churn/nov 2026.csv") == data


def test_a_batch_file_without_a_model_keeps_its_quarantine_and_counts(world, telco_csv):
    store, mailer = world
    frame = _export(telco_csv).drop(columns=["churn"])
    frame.loc[3, "tenure"] = "soon"
    data = frame.to_csv(index=False).encode()

    out = _batch(store, mailer, "batch/telco_churn/b.csv", data)

    assert out["status"] == "rejected" and "telco_churn" in out["problems"][0]
    report = json.loads(store.get(out["report_uri"]))
    assert report["counts"] == {"rows_in": 50, "curated": 49, "quarantined": 1, "duplicates": 0}
    assert report["sha256"] and report["format"]["type"] == "csv"
    run_id = out["report_uri"].split("batch=")[1].split("/")[0]
    assert report["quarantine_uri"].startswith(f"s3://raw/quarantine/telco_churn/batch={run_id}/")
    rejected = read_quarantine(store.get(report["quarantine_uri"]))
    assert [r["line"] for r in rejected.records()] == [5]  # the header is line 1


def test_a_batch_key_outside_a_dataset_is_ignored_with_its_decoded_key(world):
    store, mailer = world
    assert _batch(store, mailer, "batch/loose+file.csv", b"a\n1\n") == {
        "status": "ignored",
        "key": "batch/loose file.csv",
    }
    out = _ingest(store, mailer, "elsewhere/a+b.csv", b"a\n1\n")
    assert out.status == "ignored" and out.file == "s3://raw/elsewhere/a b.csv"
    assert mailer.sent == []
