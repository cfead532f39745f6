"""Limits of the readers and the intake's edges: bombs stop at the configured size, wide files
read, names and email headers cannot carry what they should not, and every unexpected
failure while reading still ends in a rejection with its email."""

import gzip
import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabflow.adapters.memory import MemoryMailer, MemoryStore, MemoryTables, MemoryWorkflow
from tabflow.adapters.ses import to_mime
from tabflow.contract import parse_contract
from tabflow.emails import header_text
from tabflow.errors import InvalidDatasetName, SchemaError, TransientError
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.limits import MAX_HEADER_BYTES
from tabflow.naming import check_dataset_name
from tabflow.ports import Email
from tabflow.readers import read_table
from tabflow.recipients import RecipientPolicy
from tests.bombs import gzip_bomb
from tests.conftest import DATASETS, ROOT

MB = 1 << 20


def bomb(expanded: int, checksum: bool = True) -> bytes:
    """One gzip member expanding to ``expanded`` bytes of CSV rows."""
    chunk = b"1,2,3\n" * (MB // 6)
    return gzip_bomb(b"a,b,c\n", chunk, expanded // len(chunk) + 1, checksum=checksum)


# ---------------------------------------------------------------- decompression
def test_a_gzip_bomb_stops_at_the_limit():
    data = bomb(64 * MB)
    assert len(data) < MB // 4
    with pytest.raises(SchemaError, match=r"more than 8388608 bytes.*MaxDecompressedBytes"):
        read_table(data, name="b.csv.gz", max_bytes=8 * MB)


def test_a_multi_member_gzip_bomb_stops_at_the_limit_and_members_still_read():
    member = gzip.compress(b"1,2\n" * 100_000)
    with pytest.raises(SchemaError, match="MaxDecompressedBytes"):
        read_table(gzip.compress(b"a,b\n") + member * 30, name="m.csv.gz", max_bytes=8 * MB)
    two = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n") + b"\x00" * 16  # zero padding
    assert read_table(two, name="two.csv.gz").frame.to_dict("list") == {
        "a": ["1", "3"],
        "b": ["2", "4"],
    }
    with pytest.raises(SchemaError, match="not a valid gzip file"):
        read_table(gzip.compress(b"a,b\n1,2\n") + b"garbage", name="g.csv.gz")


def test_a_plain_file_over_the_limit_is_refused():
    with pytest.raises(SchemaError, match="above the limit of 1000 bytes"):
        read_table(b"a,b\n" + b"1,2\n" * 1000, name="p.csv", max_bytes=1000)


def test_peak_memory_on_a_gzip_bomb_stays_near_the_limit(tmp_path):
    """In a fresh process: a 1 GiB bomb (3.6 MB on disk) against a 16 MiB limit adds at most a few times the
    limit to the peak RSS (before the bound, the whole expansion was held, then parsed)."""
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(bomb(1024 * MB, checksum=False))
    script = textwrap.dedent(
        f"""
        import json, resource
        from tabflow.errors import SchemaError
        from tabflow.readers import read_table
        data = open({str(path)!r}, "rb").read()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_table(data, name="bomb.csv.gz", max_bytes={16 * MB})
            outcome = "read"
        except SchemaError as exc:
            outcome = str(exc)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"outcome": outcome, "added_mb": (after - before) / 1024}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "MaxDecompressedBytes" in result["outcome"]
    assert result["added_mb"] < 64, result


# ---------------------------------------------------------------- wide files
def test_a_20000_column_csv_reads_whole():
    names = [f"feature_{i:05d}" for i in range(20_000)]
    header = ",".join(names)
    assert len(header) > 128 * 1024  # past 64 KiB and the csv module's default field limit
    rows = [",".join(str((r * 7 + i) % 100) for i in range(20_000)) for r in range(20)]
    raw = read_table(("\n".join([header, *rows]) + "\n").encode(), name="wide.csv")
    assert raw.columns == names and raw.table.num_rows == 20 and raw.broken == []
    assert raw.table.column(19_999).to_pylist()[:2] == ["99", "6"]


def test_a_quoted_header_with_a_line_break_and_a_delimiter_is_one_record():
    data = b'id,"note,\nwith a break",amount\n1,"a",2\nragged\n3,"b\nc",4\n'
    raw = read_table(data, name="q.csv")
    assert raw.columns == ["id", "note,\nwith a break", "amount"]
    assert raw.frame.to_dict("list")["amount"] == ["2", "4"]
    assert raw.line_numbers.tolist() == [3, 5] and [b.line for b in raw.broken] == [4]


def test_a_header_without_a_line_break_is_bounded():
    with pytest.raises(SchemaError, match="no line break"):
        read_table(b"a," * (MAX_HEADER_BYTES // 2 + 10), name="h.csv")


# ---------------------------------------------------------------- values bounds
def test_a_csv_of_empty_values_is_bounded_by_rows_times_columns():
    data = b",".join(b"c%d" % i for i in range(100)) + b"\n" + (b"," * 99 + b"\n") * 30_000
    with pytest.raises(SchemaError, match=r"30002 rows x 100 columns"):
        read_table(data, name="e.csv", max_bytes=8 * MB)


def test_a_flood_of_rows_that_do_not_split_is_refused_not_kept_one_by_one():
    with pytest.raises(SchemaError, match="more than 4096 rows do not split"):
        read_table(b"a,b,c\n" + b"x\n" * 500_000, name="r.csv", max_bytes=8 * MB)
    # under the bound they are kept with their lines, as before
    raw = read_table(b"a,b\n1,2\nx\n3,4\n", name="r.csv")
    assert [(b.line, b.text) for b in raw.broken] == [(3, "x")]


def _parquet(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def test_a_parquet_values_bomb_is_refused_from_its_metadata():
    data = _parquet(pa.table({"n": pa.array(np.zeros(5_000_000, np.int8))}))
    assert len(data) < MB
    with pytest.raises(SchemaError, match="5000000 rows x 1 columns"):
        read_table(data, name="z.parquet", max_bytes=8 * MB)


def test_parquet_dictionary_text_is_measured_before_it_expands():
    data = _parquet(pa.table({"s": pa.array(["x" * 10_000] * 5_000)}), use_dictionary=True)
    assert len(data) < 100_000
    with pytest.raises(SchemaError, match="bytes of values"):
        read_table(data, name="d.parquet", max_bytes=8 * MB)


def test_parquet_values_of_every_type_still_read_as_text():
    frame = pd.DataFrame(
        {
            "s": ["a", None, "a"],
            "n": [1, 2, None],
            "f": [0.5, None, 2.0],
            "d": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
            "b": [True, False, None],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    big = table.append_column("l", pa.array(["x", "y", None], pa.large_string()))
    raw = read_table(_parquet(big, use_dictionary=True, row_group_size=2), name="t.parquet")
    got = raw.frame.to_dict("list")
    assert got["s"] == ["a", "", "a"] and got["l"] == ["x", "y", ""]
    assert got["n"] == ["1", "2", ""] and got["b"] == ["true", "false", ""]
    assert got["d"][1] == "" and got["d"][0].startswith("2024-01-01")


def test_a_json_lines_sparse_key_bomb_is_refused():
    lines = [json.dumps({f"k{n}_{j}": 1 for j in range(5)}) for n in range(3000)]
    with pytest.raises(SchemaError, match="values, above"):
        read_table("\n".join(lines).encode(), name="s.jsonl", max_bytes=8 * MB)


def test_hostile_json_lines_are_quarantined_not_crashing():
    lines = [
        '{"a": "1", "b": "x"}',
        '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",  # nested past any recursion limit
        '{"a": ' + "9" * 5000 + "}",  # past Python's int-to-text digit limit
        '{"a": "line\u2028separator", "b": "y"}',  # one line: only \n ends a line
        "[1, 2]",
        '{"a": "2"}\r',
    ]
    raw = read_table("\n".join(lines).encode(), name="h.jsonl")
    assert raw.frame.to_dict("list") == {
        "a": ["1", "line\u2028separator", "2"],
        "b": ["x", "y", ""],
    }
    assert raw.line_numbers.tolist() == [1, 4, 6]
    reasons = {b.line: b.reason for b in raw.broken}
    assert set(reasons) == {2, 3, 5}
    assert "nested too deeply" in reasons[2] and "not valid JSON" in reasons[3]


# ---------------------------------------------------------------- file types
@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("report.xlsx", "export the sheet as CSV"),
        ("data.csv.zip", "only gzip compression"),
        ("data.csv.bz2", "only gzip compression"),
        ("model.pkl", "unsupported file type '.pkl'"),
        ("export.csv", None),
        ("export.TSV", None),
        ("export.txt.gz", None),
        ("march export", None),  # no extension: sniffed
        ("rates.2024-03", None),  # a date, not a file type
    ],
)
def test_unsupported_file_types_are_refused_by_name(name, refused):
    data = b"a,b\n1,2\n"
    data = gzip.compress(data) if name.endswith(".gz") else data
    if refused:
        with pytest.raises(SchemaError, match=refused):
            read_table(data, name=name)
    else:
        assert read_table(data, name=name).table.num_rows == 1


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["telco_churn", "hotel_rates", "orders", "a", "x-1", "9" * 63])
def test_dataset_names_of_the_project_are_valid(name):
    assert check_dataset_name(name) == name


@pytest.mark.parametrize(
    "name", ["..", ".", "", "a" * 64, "a" * 3000, "Telco", "a b", "a/b", "-x", "_x", "é", "a\n"]
)
def test_hostile_dataset_names_are_refused_with_the_rule(name):
    with pytest.raises(InvalidDatasetName, match="lowercase letters") as caught:
        check_dataset_name(name)
    assert caught.value.status == 404 and "\n" not in str(caught.value)
    assert len(str(caught.value)) < 300  # a 3,000-character name is shown bounded


def test_the_contract_follows_the_same_naming_rule():
    text = (DATASETS / "telco_churn.yaml").read_text()
    for bad in ("../x", "Telco", "a" * 64):
        with pytest.raises(Exception, match="dataset"):
            parse_contract(text.replace("dataset: telco_churn", f"dataset: '{bad}'"))


# ---------------------------------------------------------------- email headers
hostile_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\r", "\n", "\x00", "\x1b", "\u2028", "\u202e", "\x85", " "]),
        st.characters(),
    ),
    max_size=400,
)


@settings(max_examples=150, deadline=None)
@given(subject=hostile_text, name=hostile_text)
def test_no_header_can_carry_a_line_break(subject, name):
    email = Email(subject=f"[tabflow] {name}: {subject}", text="body", html="<p>body</p>")
    raw = to_mime(email, "alerts@example.com", ["a@example.com"]).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    names = {line.split(b":", 1)[0] for line in head.splitlines() if line[:1] not in b" \t"}
    assert names <= {b"Subject", b"From", b"To", b"MIME-Version", b"Content-Type"}
    import email as email_lib
    import email.policy

    parsed = email_lib.message_from_bytes(raw, policy=email.policy.default)
    for _, value in parsed.items():
        assert "\n" not in str(value) and "\r" not in str(value)


def test_header_text_keeps_one_bounded_line():
    text = header_text("a\r\nBcc: x@evil.test\x00\u202e" + "z" * 500)
    assert text.startswith("a Bcc: x@evil.test") and len(text) == 200 and text.endswith("…")
    assert all(c.isprintable() for c in text)


# ---------------------------------------------------------------- recipients
def test_the_recipient_policy_keeps_allowed_addresses_and_names_the_rest():
    policy = RecipientPolicy.of(["team@corp.example"])
    got = policy.resolve(
        ["Boss@Corp.Example", "x@eu.corp.example", "spy@evil.test", "a@b.c\r\nBcc: d@e.f", ""]
    )
    assert got.to == ["Boss@Corp.Example", "x@eu.corp.example"]
    assert [d.reason for d in got.dropped] == [
        "outside the allowed domains: corp.example",
        "not an email address",
        "not an email address",
    ]
    assert policy.resolve(["spy@evil.test"]).to == ["team@corp.example"]  # the fallback
    assert policy.resolve(["spy@corp.example.evil.test"]).to == ["team@corp.example"]
    explicit = RecipientPolicy.of(["team@corp.example"], ["partner.example"])
    assert explicit.resolve(["p@partner.example", "q@corp.example"]).to == ["p@partner.example"]
    assert explicit.resolve(["team@corp.example"]).to == ["team@corp.example"]


# ---------------------------------------------------------------- ingest failures
CONTRACT = (ROOT / "tests" / "data" / "orders.yaml").read_bytes()


def _ingest(store, mailer, data: bytes = b"order_id\nA1\n"):
    store.put("s3://raw/contracts/orders.yaml", CONTRACT)
    store.put("s3://raw/incoming/orders/f.csv", data)
    return ingest_object(
        key="incoming/orders/f.csv",
        etag="e",
        size=len(data),
        config=IngestConfig("raw", "lake", ["t@example.com"], 1 << 20),
        store=store,
        tables=MemoryTables(store),
        workflow=MemoryWorkflow(),
        mailer=mailer,
        pii_salt=lambda: "salt",
    )


def test_an_unexpected_error_while_validating_is_a_rejection_with_its_email(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug met a file")

    monkeypatch.setattr("tabflow.intake.validate", broken)
    store, mailer = MemoryStore(), MemoryMailer()
    outcome = _ingest(store, mailer)
    assert outcome.status == "rejected" and "RuntimeError: a bug met a file" in outcome.problems[0]
    ((email, to),) = mailer.sent
    assert "rejected" in email.subject and to == ["t@example.com"]
    assert json.loads(store.get(outcome.report_uri))["status"] == "rejected"


class _FailingMailer:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def send(self, email, recipients):
        raise self.exc


def test_a_failing_email_does_not_lose_the_rejection_but_throttling_is_retried():
    store = MemoryStore()
    outcome = _ingest(store, _FailingMailer(ValueError("SES refused the address")))
    assert outcome.status == "rejected" and store.get(outcome.report_uri)
    with pytest.raises(TransientError):
        _ingest(MemoryStore(), _FailingMailer(TransientError("Throttling")))
