"""The quarantine file through the ingest use case: every rejected row with its raw values
and every reason, lines in order, counts adding up; and a file whose every row is wrong costs
no Python object per row (the defect: ~10 KB per row, 2.2 GB for an 8 MB file)."""

import json
import tracemalloc

import pyarrow as pa

from tabflow.adapters.memory import MemoryMailer, MemoryStore, MemoryTables, MemoryWorkflow
from tabflow.ingestion import IngestConfig, IngestOutcome, ingest_object
from tabflow.quarantine import Quarantine, read_quarantine
from tests.conftest import ROOT

CONTRACT = (ROOT / "tests" / "data" / "orders.yaml").read_bytes()
HEADER = "order_id,customer,ordered_at,amount,discount,qty,channel,email,returned,Extra Col"


def good(i: int) -> str:
    return f"A{i},c{i % 7},2024-03-{1 + i % 28:02d} 10:00,$1{i}.50,5%,2,web,u{i}@x.com,no,e{i}"


def ingest(data: bytes) -> tuple[MemoryStore, IngestOutcome, MemoryMailer]:
    store = MemoryStore()
    store.put("s3://raw/contracts/orders.yaml", CONTRACT)
    key = "incoming/orders/export.csv"
    store.put(f"s3://raw/{key}", data)
    mailer = MemoryMailer()
    outcome = ingest_object(
        key=key,
        etag="e1",
        size=len(data),
        config=IngestConfig("raw", "lake", ["team@example.com"], 1 << 30),
        store=store,
        tables=MemoryTables(store),
        workflow=MemoryWorkflow(),
        mailer=mailer,
        pii_salt=lambda: "test-salt",
    )
    return store, outcome, mailer


def quarantine_of(store: MemoryStore, outcome: IngestOutcome) -> Quarantine:
    report = json.loads(store.get(outcome.report_uri))
    assert report["quarantine_uri"].endswith("/rejected_rows.parquet")
    return read_quarantine(store.get(report["quarantine_uri"]))


def test_every_rejected_row_keeps_its_raw_values_and_every_reason():
    rows = [good(i) for i in range(20)]
    rows[3] = 'A3,c3,someday,"$ 1,2,3",150%,2.5,fax,a@x.com,maybe,"=HYPERLINK(""x"")"'
    rows[7] = "A7,c0,2024-03-08 10:00,$17.50,5%,2,web,u7@x.com"  # ragged: 8 fields of 10
    rows[11] = "A11,c4,2024-03-12 10:00,-$3,5%,2,web,ünï@x.com,no,e11"  # one reason
    rows[12] = 'A12,,2024-03-13 10:00,$12.50,5%,2,web,"multi\nline",no,e12'  # customer missing
    store, outcome, _ = ingest("\n".join([HEADER, *rows]).encode() + b"\n")
    c = outcome.counts
    assert outcome.status == "accepted" and c["quarantined"] == 4
    assert c["rows_in"] == c["curated"] + c["quarantined"] + c["duplicates"] == 20
    quarantine = quarantine_of(store, outcome)
    records = list(quarantine)
    assert len(records) == len(quarantine) == 4
    assert [r["line"] for r in records] == [5, 9, 13, 14]  # file lines (header = 1), sorted
    by_line = {r["line"]: r for r in records}
    first = by_line[5]
    assert [p["column"] for p in first["problems"]] == [
        "ordered_at",
        "amount",
        "discount",
        "qty",
        "channel",
        "returned",
    ]
    reasons = {p["column"]: p["reason"] for p in first["problems"]}
    assert "date" in reasons["ordered_at"] and "not a number" in reasons["amount"]
    assert "whole" in reasons["qty"] and "maximum" in reasons["discount"]
    assert first["row"]["amount"] == "$ 1,2,3" and first["row"]["Extra Col"] == '=HYPERLINK("x")'
    assert {p["column"]: p["value"] for p in first["problems"]}["channel"] == "fax"
    assert by_line[9]["problems"][0]["column"] is None
    assert "expected 10 fields" in by_line[9]["problems"][0]["reason"]
    assert by_line[9]["row"]["_raw"].startswith("A7,c0,")
    assert [(p["column"], p["value"]) for p in by_line[13]["problems"]] == [("amount", "-$3")]
    assert by_line[13]["row"]["email"] == "ünï@x.com"  # raw: the quarantine is in the raw bucket
    assert by_line[14]["row"]["email"] == "multi\nline"
    assert [p["column"] for p in by_line[14]["problems"]] == ["customer"]
    counts = quarantine.reason_counts()
    assert sum(counts.values()) == sum(len(r["problems"]) for r in records)


def test_an_all_invalid_file_costs_no_python_object_per_row():
    """40,000 rows, every field wrong: rejected with an email, every row in a quarantine
    smaller than the input, and far less Python memory than one object per row would take
    (the old records took ~10 KB per row: 400 MB here)."""
    n = 40_000
    data = (HEADER + "\n" + "x,x,x,x,x,x,x,x,x,x\n" * n).encode()
    tracemalloc.start()
    try:
        store, outcome, mailer = ingest(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == "rejected" and len(mailer.sent) == 1
    assert outcome.counts == {"rows_in": n, "curated": 0, "quarantined": n, "duplicates": 0}
    assert peak < 40 << 20, f"{peak >> 20} MB of Python allocations"
    quarantine = quarantine_of(store, outcome)
    written = json.loads(store.get(outcome.report_uri))["quarantine_uri"]
    assert len(store.get(written)) < len(data)  # the old JSON Lines were 65x the input
    assert len(quarantine) == n
    counts = quarantine.reason_counts()
    # x is a valid string (order_id, customer, email, notes) and the other six are wrong
    assert len({k.split(":")[0] for k in counts}) == 6 and set(counts.values()) == {n}
    reasons = quarantine.table.column("reasons").type
    assert all(pa.types.is_dictionary(f.type) for f in reasons)  # each reason stored once
