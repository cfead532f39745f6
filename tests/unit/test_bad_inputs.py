"""The bad-input corpus: each case has a defined outcome, and none of them crashes, loses a
row, changes the raw file or leaves partial curated output behind."""

import codecs
import gzip
import io
import json
from dataclasses import dataclass

import pandas as pd
import pytest

from tabflow.adapters.memory import MemoryMailer, MemoryStore, MemoryTables, MemoryWorkflow
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.quarantine import read_quarantine
from tests.conftest import ROOT

CONTRACT = (ROOT / "tests" / "data" / "orders.yaml").read_bytes()
HEADER = "order_id,customer,ordered_at,amount,discount,qty,channel,email,returned"
GOOD = [
    f"A{i},c{i % 7},2024-03-{1 + i % 28:02d} 10:00,${10 + i}.50,{i % 3 * 5}%,{1 + i % 4},web,u{i}@x.com,{'yes' if i % 3 else 'no'}"
    for i in range(40)
]


def csv(*rows: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *rows]).encode() + b"\n"


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@dataclass
class Case:
    name: str
    data: bytes
    status: str  # accepted | rejected
    expect: str = ""  # text that must appear in the problems (rejected) or the report (accepted)
    filename: str = "export.csv"
    quarantined: int | None = None
    limit: int = 64 << 20  # the configured size limit, bytes


CASES = [
    Case("empty file", b"", "rejected", "the file is empty"),
    Case("whitespace only", b" \n\n  \n", "rejected", "the file is empty"),
    Case("header only", csv(), "rejected", "no data rows"),
    Case("binary garbage", bytes(range(256)) * 20, "rejected", "binary data"),
    Case(
        "wrong delimiter declared nowhere: semicolons", csv(*GOOD).replace(b",", b";"), "accepted"
    ),
    Case(
        "UTF-16 with BOM", codecs.BOM_UTF16_LE + csv(*GOOD).decode().encode("utf-16-le"), "accepted"
    ),
    Case(
        "Latin-1 text",
        csv(*[g.replace("web", "web") + "" for g in GOOD]).replace(b"u1@", "é1@".encode("latin-1")),
        "accepted",
    ),
    Case("UTF-8 BOM and CRLF", codecs.BOM_UTF8 + csv(*GOOD).replace(b"\n", b"\r\n"), "accepted"),
    Case(
        "ragged rows",
        csv(
            *GOOD, "B1,c1,2024-03-01 10:00,$1", "B2,c1,2024-03-01 10:00,$1,0,1,web,x,no,extra,extra"
        ),
        "accepted",
        quarantined=2,
    ),
    Case(
        "duplicate header names",
        csv(*GOOD, header=HEADER + ",amount"),
        "rejected",
        "duplicate header",
    ),
    Case(
        "headers that collide after normalising",
        csv(*GOOD, header=HEADER.replace("email", "Amount")),
        "rejected",
        "same as 'amount'",
    ),
    Case(
        "missing target column",
        "\n".join(",".join(r.split(",")[:-1]) for r in [HEADER, *GOOD]).encode(),
        "rejected",
        "missing required column 'returned'",
    ),
    Case(
        "missing required feature",
        "\n".join(",".join(r.split(",")[:5] + r.split(",")[6:]) for r in [HEADER, *GOOD]).encode(),
        "rejected",
        "missing required column 'qty'",
    ),
    Case(
        "all-null optional column",
        csv(*[g.rsplit(",", 2)[0] + ",," + g.rsplit(",", 1)[1] for g in GOOD]),
        "accepted",
        "column 'email' is empty in every row",
    ),
    Case(
        "a 10 MB single field",
        csv(*GOOD, 'B1,c1,2024-03-01 10:00,$1,0,1,web,"' + "x" * 10_000_000 + '",no'),
        "accepted",
    ),
    Case(
        "5,000 columns",
        csv(
            *[g + "," + ",".join("0" * 1 for _ in range(4991)) for g in GOOD],
            header=HEADER + "," + ",".join(f"extra{i}" for i in range(4991)),
        ),
        "accepted",
        "extra4990",
    ),
    Case(
        "unseen categories",
        csv(*GOOD, "B1,c1,2024-03-01 10:00,$1,0,1,fax,x,no"),
        "accepted",
        "not one of the allowed categories",
        quarantined=1,
    ),
    Case(
        "numbers with units",
        csv(*GOOD, "B1,c1,2024-03-01 10:00,12 USD kg,0,1,web,x,no"),
        "accepted",
        "not a number (money)",
        quarantined=1,
    ),
    Case(
        "mixed date formats",
        csv(*GOOD, "B1,c1,01/03/2024 10:00,$1,0,1,web,x,no", "B2,c1,March 1st,$1,0,1,web,x,no"),
        "accepted",
        "not a date in the declared format",
        quarantined=1,
    ),
    Case(
        "spreadsheet formulas stay text",
        csv(*GOOD, 'B1,c1,2024-03-01 10:00,$1,0,1,web,"=HYPERLINK(""http://e.vil"")",no'),
        "accepted",
    ),
    Case(
        "a .gz that is not gzip",
        csv(*GOOD),
        "rejected",
        "not gzip-compressed",
        filename="export.csv.gz",
    ),
    Case("a real .gz", gzip.compress(csv(*GOOD)), "accepted", filename="export.csv.gz"),
    Case(
        "truncated gzip",
        gzip.compress(csv(*GOOD))[:60],
        "rejected",
        "not a valid gzip file",
        filename="export.csv.gz",
    ),
    Case(
        "beyond the size limit", csv(*GOOD) + b"#" * 3000, "rejected", "above the limit", limit=2000
    ),
    Case(
        "too many bad rows",
        csv(*GOOD[:3], *["B,c,never,x,y,z,web,e,no"] * 10),
        "rejected",
        "above the contract's limit",
    ),
    Case(
        "every row bad",
        csv(*["B,c,never,x,y,z,web,e,no"] * 3),
        "rejected",
        "above the contract's limit",
    ),
    Case(
        "target missing in some rows",
        csv(*GOOD, "B1,c1,2024-03-01 10:00,$1,0,1,web,x,"),
        "accepted",
        "missing value in the target",
        quarantined=1,
    ),
    Case(
        "exact and id duplicates",
        csv(*GOOD, GOOD[0], GOOD[1].replace("$11.50", "$99.00")),
        "accepted",
    ),
    Case(
        "Parquet with numbers stored as strings",
        parquet(pd.DataFrame([r.split(",") for r in GOOD], columns=HEADER.split(","))),
        "accepted",
        filename="export.parquet",
    ),
    Case(
        "corrupt Parquet",
        b"PAR1" + b"\x00garbage" * 10,
        "rejected",
        "cannot be read as Parquet",
        filename="export.parquet",
    ),
    Case(
        "JSON Lines with a broken line",
        b"\n".join(
            [
                json.dumps(dict(zip(HEADER.split(","), r.split(","), strict=True))).encode()
                for r in GOOD
            ]
            + [b'{"order_id": "B1",']
        ),
        "accepted",
        "not valid JSON",
        filename="export.jsonl",
        quarantined=1,
    ),
    Case(
        "quoted multi-line notes",
        csv(*GOOD, 'B1,c1,2024-03-01 10:00,$1,0,1,web,"two\nlines",no'),
        "accepted",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_has_its_defined_outcome(case):
    store, mailer, workflow = MemoryStore(), MemoryMailer(), MemoryWorkflow()
    store.put("s3://raw/contracts/orders.yaml", CONTRACT)
    key = f"incoming/orders/{case.filename}"
    store.put(f"s3://raw/{key}", case.data)
    outcome = ingest_object(
        key=key,
        etag="e",
        size=len(case.data),
        config=IngestConfig("raw", "lake", ["t@x.com"], case.limit),
        store=store,
        tables=MemoryTables(store),
        workflow=workflow,
        mailer=mailer,
        pii_salt=lambda: "salt",
    )
    assert outcome.status == case.status, outcome.problems
    assert store.get(f"s3://raw/{key}") == case.data  # the raw file is never changed
    report = json.loads(store.get(outcome.report_uri))
    assert report["status"] == case.status and store.get(
        outcome.report_uri.replace(".json", ".html")
    )
    counts = outcome.counts
    if counts:
        assert counts["rows_in"] == counts["curated"] + counts["quarantined"] + counts["duplicates"]
    curated = [u for u in store.objects if "/curated/" in u]
    if case.status == "rejected":
        assert not curated and not workflow.started
        ((email, _),) = mailer.sent
        assert case.expect in " ".join(outcome.problems) and "rejected" in email.subject
    else:
        assert len(curated) == 1 and len(workflow.started) == 1 and not mailer.sent
        quarantined = (
            list(read_quarantine(store.get(report["quarantine_uri"])))
            if "quarantine_uri" in report
            else []
        )
        assert case.expect in json.dumps(report) + json.dumps(quarantined)
        if case.quarantined is not None:
            assert counts["quarantined"] == case.quarantined
            assert len(quarantined) == case.quarantined
            assert all(q["line"] > 1 and q["problems"] for q in quarantined)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_formula_strings_reach_curated_data_verbatim():
    store = MemoryStore()
    store.put("s3://raw/contracts/orders.yaml", CONTRACT.replace(b"pii: hash", b"pii: none"))
    data = csv(*GOOD, 'B1,c1,2024-03-01 10:00,$1,0,1,web,"=HYPERLINK(""http://e.vil"")",no')
    store.put("s3://raw/incoming/orders/f.csv", data)
    tables = MemoryTables(store)
    outcome = ingest_object(
        key="incoming/orders/f.csv",
        etag="e",
        size=len(data),
        config=IngestConfig("raw", "lake", ["t@x.com"], 1 << 20),
        store=store,
        tables=tables,
        workflow=MemoryWorkflow(),
        mailer=MemoryMailer(),
    )
    curated = tables.read_parquet(next(u for u in store.objects if "/curated/" in u))
    assert outcome.status == "accepted"
    assert '=HYPERLINK("http://e.vil")' in curated["email"].tolist()


def test_an_inferred_contract_accepts_the_file_it_came_from():
    from tabflow.contract import parse_contract
    from tabflow.contract_draft import draft_contract as infer_contract
    from tabflow.readers import read_table
    from tabflow.validation import validate

    data = (ROOT / "datasets" / "telco_churn.csv").read_bytes()
    contract = parse_contract(infer_contract(data, name="telco.csv", dataset="telco"))
    result = validate(read_table(data, name="telco.csv"), contract, file="telco.csv")
    assert result.counts["quarantined"] == 0 and result.counts["curated"] == 7043
