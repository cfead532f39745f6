"""Hostile and careless drops through the ingest and batch handlers under moto.

Every way a dropped file can be refused is listed here and run through the handler a user
triggers: each ends in a rejection with a report and exactly one email, never in an
unhandled error; no email header carries a line break; a contract's notify list cannot send
mail outside the allowed domains; a rejected file is processed when re-triggered after the
contract is fixed, while an exact duplicate of an accepted file is skipped and logged; a
20,000-column file is read; a gzip bomb is refused at MaxDecompressedBytes.

One stack for the module (deploying costs seconds), with MaxDecompressedBytes at 16 MiB so
that the bombs stay small and fast."""

import email
import email.policy
import gzip
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.errors import InvalidDatasetName
from tabflow.naming import check_dataset_name
from tests.bombs import gzip_bomb
from tests.conftest import ROOT
from tests.integration.conftest import Context, _deployed, s3_put_event

REGION = "us-east-1"
LIMIT = 16 << 20  # MaxDecompressedBytes of this module's stack
TEAM = "ml-team@example.com"  # the template's AlertRecipients
OWNER = "owner@example.com"  # a notify address inside the allowed domain (example.com)

HOSTILE = f"""dataset: {{name}}
target: {{{{column: label, positive_label: "yes"}}}}
id_column: id
columns:
  id: {{{{type: string, nullable: false}}}}
  amount: {{{{type: float, min: 0}}}}
  label: {{{{type: category, categories: ["yes", "no"]}}}}
max_bad_row_share: {{share}}
notify: [{OWNER}]
"""
GOOD_ROWS = [f"r{i},{i}.5,{'yes' if i % 2 else 'no'}" for i in range(30)]


def table(*rows: str, header: str = "id,amount,label") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def csv_bomb(expanded: int) -> bytes:
    chunk = b"r1,1.5,yes\n" * (1 << 16)
    return gzip_bomb(b"id,amount,label\n", chunk, expanded // len(chunk) + 1)


def parquet(tab: pa.Table, **kw: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(tab, buf, **kw)
    return buf.getvalue()


CONTRACTS: dict[str, bytes] = {
    "hostile": HOSTILE.format(name="hostile", share=0.2).encode(),
    "allbad": HOSTILE.format(name="allbad", share=1.0).encode(),
    "badyaml": b"dataset: badyaml\ncolumns:\n  id: {type: string\n  amount: [float\n",
    "badfield": b"dataset: badfield\ntarget: {column: nope, positive_label: x}\ncolumns: {}\n",
    "otherset": HOSTILE.format(name="hostile", share=0.2).encode(),
    "notamap": b"- just\n- a list\n",
    "deepyaml": b"dataset: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "laughs": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n".encode()
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + b"dataset: *i\ntarget: *i\ncolumns: *i\nnotify: *i\n",
    "binyaml": bytes(range(256)) * 8,
    "hugeyaml": b"dataset: hugeyaml\ndescription: '" + b"x" * (5 << 20) + b"'\n",
}


@dataclass
class Case:
    name: str
    key: str  # under incoming/ or batch/
    data: bytes | None  # None: the event names an object that is not uploaded
    expect: str  # text in the problems
    to: str = OWNER  # the recipient of the rejection email
    size: int | None = None  # the size in the event, when it is not len(data)


def _cases() -> list[Case]:
    ragged = b"id,amount,label\n" + b"x\n" * 600_000
    empty_values = b",".join(b"c%d" % i for i in range(200)) + b"\n" + (b"," * 199 + b"\n") * 30_000
    sparse = b"\n".join(
        json.dumps({f"k{line}_{j}": "1" for j in range(3)}).encode() for line in range(3000)
    )
    dictionary_bomb = parquet(
        pa.table({"id": pa.array(["x" * 4096] * 8192), "amount": [1.0] * 8192}),
        use_dictionary=True,
    )
    rle_bomb = parquet(pa.table({"amount": pa.array(np.zeros(5_000_000, np.int8))}))
    nested = parquet(pa.table({"id": ["a"], "amount": [[1, 2]], "label": ["yes"]}))
    return [
        Case("dot-dot dataset", "../x.csv", None, "invalid dataset name '..'", TEAM),
        Case("3,000-character dataset", "a" * 3000 + "/x.csv", None, "3000 characters", TEAM),
        Case(
            "line break in the dataset name",
            "x\r\nBcc: evil@evil.test/x.csv",
            None,
            "invalid dataset name",
            TEAM,
        ),
        Case("upper-case dataset", "Hostile/x.csv", None, "invalid dataset name", TEAM),
        Case("no contract", "nocontract/x.csv", table(*GOOD_ROWS), "no contract", TEAM),
        Case("malformed contract YAML", "badyaml/x.csv", table(*GOOD_ROWS), "not valid YAML", TEAM),
        Case("contract fails validation", "badfield/x.csv", table(*GOOD_ROWS), "target", TEAM),
        Case("contract of another dataset", "otherset/x.csv", table(), "declares dataset", TEAM),
        Case("contract not a mapping", "notamap/x.csv", table(*GOOD_ROWS), "mapping", TEAM),
        Case("contract nested 3,000 deep", "deepyaml/x.csv", table(*GOOD_ROWS), "deepyaml", TEAM),
        Case("billion-laughs contract", "laughs/x.csv", table(*GOOD_ROWS), "laughs.yaml", TEAM),
        Case("binary contract", "binyaml/x.csv", table(*GOOD_ROWS), "binyaml.yaml", TEAM),
        Case("5 MB contract", "hugeyaml/x.csv", table(*GOOD_ROWS), "a contract may have", TEAM),
        Case(
            "object over MAX_FILE_BYTES",
            "hostile/huge.csv",
            table(*GOOD_ROWS),
            "above the limit",
            size=2 << 30,
        ),
        Case(
            "object over MaxDecompressedBytes already",
            "hostile/big.csv",
            table(*GOOD_ROWS),
            "(MaxDecompressedBytes)",
            size=LIMIT + 1,
        ),
        Case("a spreadsheet", "hostile/report.xlsx", b"PK\x03\x04" + b"\x00" * 64, ".xlsx"),
        Case("a zip archive", "hostile/data.csv.zip", b"PK\x03\x04" + b"\x00" * 64, ".zip"),
        Case("empty file", "hostile/empty.csv", b"", "the file is empty"),
        Case("whitespace only", "hostile/blank.csv", b" \n\n \n", "the file is empty"),
        Case("binary garbage", "hostile/garbage.csv", bytes(range(256)) * 40, "binary data"),
        Case("NUL bytes", "hostile/nul.csv", table(*GOOD_ROWS) + b"\x00" * 8, "binary data"),
        Case(
            "NUL bytes past the sniffed head",
            "hostile/nul2.csv",
            table(*GOOD_ROWS * 200) + b"r9,\x00,yes\n",
            "NUL characters",
        ),
        Case("a .gz that is not gzip", "hostile/fake.csv.gz", table(*GOOD_ROWS), "not gzip"),
        Case(
            "truncated gzip",
            "hostile/cut.csv.gz",
            gzip.compress(table(*GOOD_ROWS))[:40],
            "not a valid gzip",
        ),
        Case("gzip bomb", "hostile/bomb.csv.gz", csv_bomb(64 << 20), "MaxDecompressedBytes"),
        Case(
            "multi-member gzip bomb",
            "hostile/members.csv.gz",
            gzip.compress(b"r1,1.5,yes\n" * 200_000) * 12,
            "MaxDecompressedBytes",
        ),
        Case("corrupt Parquet", "hostile/bad.parquet", b"PAR1" + b"\x00" * 99, "Parquet"),
        Case("Parquet values bomb", "hostile/rle.parquet", rle_bomb, "values"),
        Case("Parquet dictionary bomb", "hostile/dict.parquet", dictionary_bomb, "bytes of values"),
        Case("nested Parquet column", "hostile/nested.parquet", nested, "nested"),
        Case("JSON Lines sparse-key bomb", "hostile/sparse.jsonl", sparse, "values"),
        Case("CSV of empty values", "hostile/commas.csv", empty_values, "values"),
        Case("ragged-row flood", "hostile/ragged.csv", ragged, "do not split"),
        Case("header only", "hostile/header.csv", table(), "no data rows"),
        Case(
            "missing required column",
            "hostile/nolabel.csv",
            table(*[r.rsplit(",", 1)[0] for r in GOOD_ROWS], header="id,amount"),
            "missing required column 'label'",
        ),
        Case(
            "duplicate headers",
            "hostile/twice.csv",
            table(*[r + ",1" for r in GOOD_ROWS], header="id,amount,label,amount"),
            "duplicate header",
        ),
        Case(
            "too many bad rows",
            "hostile/bad_rows.csv",
            table(*GOOD_ROWS[:5], *["z,-1,maybe"] * 20),
            "above the contract's limit",
        ),
        Case("no valid row", "allbad/x.csv", table(*["z,-1,maybe"] * 5), "no valid rows"),
    ]


INGEST_CASES = _cases()
# Batch scoring shares the readers and the rejection path; its own paths: no champion yet
# (checked after the file), no row left to score, and the target may be absent.
BATCH_CASES = [
    c
    for c in INGEST_CASES
    if c.name
    in {
        "dot-dot dataset",
        "3,000-character dataset",
        "line break in the dataset name",
        "no contract",
        "malformed contract YAML",
        "object over MAX_FILE_BYTES",
        "a spreadsheet",
        "binary garbage",
        "gzip bomb",
        "Parquet values bomb",
        "JSON Lines sparse-key bomb",
        "ragged-row flood",
    }
] + [
    Case(
        "missing required column",
        "hostile/noamount.csv",
        table(*[r.split(",", 1)[0] for r in GOOD_ROWS], header="id"),
        "missing required column 'amount'",
    ),
    Case("no row left to score", "allbad/x.csv", table(*["z,-1,maybe"] * 5), "no valid rows"),
    Case(
        "no champion yet",
        "hostile/score.csv",
        table(*[r.rsplit(",", 1)[0] for r in GOOD_ROWS], header="id,amount"),
        "no champion",
    ),
]


@dataclass
class Stack:
    dep: Any
    load: Callable[[str], Any]
    handlers: dict[str, Any]


@pytest.fixture(scope="module")
def stack():
    import importlib.util
    import uuid

    with pytest.MonkeyPatch.context() as mp:
        for var, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            mp.setenv(var, value)
        for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            mp.delenv(var, raising=False)
        deployed = _deployed({"MaxDecompressedBytes": str(LIMIT)})
        dep = next(deployed)

        def load(logical_id: str) -> Any:
            spec = dep.function_by_logical(logical_id)
            for key, value in spec.environment.items():
                mp.setenv(key, value)
            mp.setenv("AWS_LAMBDA_FUNCTION_NAME", spec.name)
            module_spec = importlib.util.spec_from_file_location(
                f"handler_{logical_id}_{uuid.uuid4().hex}", spec.code_dir / "app.py"
            )
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module

        s3 = boto3.client("s3", region_name=REGION)
        for name, text in CONTRACTS.items():
            s3.put_object(Bucket=dep.ref("RawBucket"), Key=f"contracts/{name}.yaml", Body=text)
        handlers = {f: load(f) for f in ("IngestFunction", "BatchFunction")}
        yield Stack(dep, load, handlers)
        deployed.close()


def valid_name(name: str) -> bool:
    try:
        check_dataset_name(name)
    except InvalidDatasetName:
        return False
    return True


def sent() -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def drop(stack: Stack, prefix: str, case: Case) -> dict:
    raw = stack.dep.ref("RawBucket")
    key = f"{prefix}/{case.key}"
    etag = "0" * 32
    if case.data is not None:
        s3 = boto3.client("s3", region_name=REGION)
        etag = s3.put_object(Bucket=raw, Key=key, Body=case.data)["ETag"].strip('"')
    size = case.size if case.size is not None else len(case.data or b"")
    return s3_put_event(raw, quote_plus(key), size, etag)


def read_json(uri: str) -> dict:
    bucket, key = uri[5:].split("/", 1)
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"]
    return json.loads(body.read())


def assert_rejected_once(stack: Stack, function: str, prefix: str, case: Case) -> dict:
    before = len(sent())
    out = stack.handlers[function].lambda_handler(drop(stack, prefix, case), Context())
    (file,) = out["files"]
    assert file["status"] == "rejected", (case.name, file)
    problems = " ".join(file["problems"])
    assert case.expect in problems, (case.name, problems)
    report = read_json(file["report_uri"])
    assert report["status"] == "rejected" and report["problems"] == file["problems"]
    assert report["emailed_to"] == [case.to]
    new = sent()[before:]
    assert len(new) == 1, (case.name, len(new))
    message = email.message_from_string(new[0].raw_data, policy=email.policy.default)
    # moto lists the Destinations and the To header's addresses: the same address twice
    assert set(new[0].destinations) == {case.to} and message["To"] == case.to
    assert "file rejected" in message["Subject"]
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert len(" ".join(message["Subject"].split())) <= 200  # (unfolding may double a space)
    lake = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=stack.dep.ref("LakeBucket"), Prefix="curated/"
    )
    assert not [o for o in lake.get("Contents", []) if case.key.split("/")[0] in o["Key"]]
    return file


@pytest.mark.parametrize("case", INGEST_CASES, ids=[c.name for c in INGEST_CASES])
def test_every_ingest_rejection_reports_and_emails_once(stack, case):
    file = assert_rejected_once(stack, "IngestFunction", "incoming", case)
    if not valid_name(case.key.split("/")[0]):  # the name never became part of a key
        assert "/reports/_rejected/run=" in file["report_uri"]


@pytest.mark.parametrize("case", BATCH_CASES, ids=[c.name for c in BATCH_CASES])
def test_every_batch_rejection_reports_and_emails_once(stack, case):
    file = assert_rejected_once(stack, "BatchFunction", "batch", case)
    if not valid_name(case.key.split("/")[0]):
        assert "/reports/_rejected/batch=" in file["report_uri"]


def test_no_email_header_carries_a_line_break(stack):
    """Every email this module made the stack send (hostile names, YAML errors, and the
    cases above when they ran first), read back from SES: one line per header, no header
    the pipeline did not write."""
    ingest = stack.handlers["IngestFunction"]
    for case in INGEST_CASES:
        if case.name in ("line break in the dataset name", "malformed contract YAML"):
            ingest.lambda_handler(drop(stack, "incoming", case), Context())
    assert any("Bcc" in m.raw_data for m in sent())  # the injection attempt was sent, harmless
    for message in sent():
        raw = message.raw_data
        head = raw.split("\r\n\r\n", 1)[0] if "\r\n\r\n" in raw else raw.split("\n\n", 1)[0]
        names = {line.split(":", 1)[0] for line in head.splitlines() if line[:1] not in " \t"}
        assert names <= {"Subject", "From", "To", "MIME-Version", "Content-Type"}, names
        parsed = email.message_from_string(raw, policy=email.policy.default)
        for name, value in parsed.items():
            assert "\n" not in str(value) and "\r" not in str(value), (name, value)


def test_notify_cannot_send_mail_outside_the_allowed_domains(stack):
    """A contract naming outside addresses: the email reaches only the allowed ones, and
    says who was left out; the report says it too."""
    contract = HOSTILE.format(name="leaky", share=0.2).replace(
        f"notify: [{OWNER}]",
        'notify: [boss@example.com, spy@evil.test, "x@example.com\\r\\nBcc: y@evil.test",'
        " a@sub.example.com]",
    )
    raw = stack.dep.ref("RawBucket")
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=raw, Key="contracts/leaky.yaml", Body=contract.encode()
    )
    before = len(sent())
    case = Case("leaky", "leaky/x.csv", table(), "no data rows")
    out = stack.handlers["IngestFunction"].lambda_handler(drop(stack, "incoming", case), Context())
    (message,) = sent()[before:]
    assert set(message.destinations) == {"a@sub.example.com", "boss@example.com"}
    assert "spy@evil.test (outside the allowed domains: example.com)" in message.raw_data
    assert "y@evil.test" not in message.destinations
    report = read_json(out["files"][0]["report_uri"])
    assert report["emailed_to"] == ["boss@example.com", "a@sub.example.com"]
    assert any("spy@evil.test" in d for d in report["not_emailed_to"])
    assert any("not an email address" in d for d in report["not_emailed_to"])


def test_every_function_mailer_enforces_the_policy(stack):
    """The training notification (another function, its own mailer built from its
    environment) sends to the allowed part of the notify list only."""
    raw = stack.dep.ref("RawBucket")
    contract = HOSTILE.format(name="leaky2", share=0.2).replace(
        f"notify: [{OWNER}]", "notify: [spy@evil.test]"
    )
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=raw, Key="contracts/leaky2.yaml", Body=contract.encode()
    )
    notify = stack.load("NotifyFunction")
    before = len(sent())
    notify.lambda_handler(
        {
            "kind": "failed",
            "run": {
                "dataset": "leaky2",
                "run_id": "r-1",
                "contract_uri": f"s3://{raw}/contracts/leaky2.yaml",
                "failed_step": "Train\r\nBcc: y@evil.test",
                "error": {"Error": "Boom", "Cause": "line one\nline two"},
            },
        },
        Context(),
    )
    (message,) = sent()[before:]
    assert set(message.destinations) == {TEAM}  # nothing allowed was left: the AlertRecipients
    assert "spy@evil.test" in message.raw_data  # named in the note
    subject = email.message_from_string(message.raw_data, policy=email.policy.default)["Subject"]
    assert "\n" not in subject and "Bcc" in subject  # on the one subject line, harmless


def test_a_rejected_file_is_processed_after_the_contract_is_fixed(stack, telco_csv, caplog):
    """upload -> rejected (contract problem) -> contract fixed -> the same object re-triggered
    -> accepted; the exact event again -> skipped, and the log says why."""
    raw = stack.dep.ref("RawBucket")
    s3 = boto3.client("s3", region_name=REGION)
    telco = (ROOT / "datasets" / "telco_churn.yaml").read_text()
    fixed = telco.replace("dataset: telco_churn", "dataset: retry_set")
    broken = fixed.replace("columns:\n", "columns:\n  loyalty_tier: {type: category}\n", 1)
    s3.put_object(Bucket=raw, Key="contracts/retry_set.yaml", Body=broken.encode())
    ingest = stack.handlers["IngestFunction"]
    event = drop(stack, "incoming", Case("retry", "retry_set/export.csv", telco_csv, ""))

    first = ingest.lambda_handler(event, Context())["files"][0]
    assert first["status"] == "rejected"
    assert first["problems"] == ["missing required column 'loyalty_tier'"]

    s3.put_object(Bucket=raw, Key="contracts/retry_set.yaml", Body=fixed.encode())
    second = ingest.lambda_handler(event, Context())["files"][0]  # same bucket, key, etag
    assert second["status"] == "accepted" and second["counts"]["curated"] == 7043
    assert second["run_id"] == first["run_id"]

    caplog.clear()
    with caplog.at_level(logging.INFO):
        third = ingest.lambda_handler(event, Context())["files"][0]
    assert third == second  # the stored result: nothing curated or started again
    (skipped,) = [r for r in caplog.records if "duplicate event skipped" in r.getMessage()]
    assert skipped.file == f"s3://{raw}/incoming/retry_set/export.csv"
    assert skipped.earlier_outcome == "accepted" and skipped.run_id == second["run_id"]
    assert skipped.idempotency_key and "etag" in skipped.reason
    sfn = boto3.client("stepfunctions", region_name=REGION)
    runs = sfn.list_executions(stateMachineArn=stack.dep.ref("TrainingStateMachine"))
    assert [r["name"] for r in runs["executions"]].count(second["run_id"]) == 1


def test_a_20000_column_file_is_ingested(stack):
    """Headers over 64 KiB (and over the csv module's 128 KiB field limit) read whole."""
    raw = stack.dep.ref("RawBucket")
    contract = HOSTILE.format(name="wide", share=0.2)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=raw, Key="contracts/wide.yaml", Body=contract.encode()
    )
    extra = [f"measurement_{i:05d}" for i in range(19_997)]
    header = ",".join(["id", "amount", "label", *extra])
    assert len(header) > 256 * 1024
    filler = ",".join("7" for _ in extra)
    data = table(*[f"{r},{filler}" for r in GOOD_ROWS], header=header)
    out = stack.handlers["IngestFunction"].lambda_handler(
        drop(stack, "incoming", Case("wide", "wide/wide.csv", data, "")), Context()
    )
    (file,) = out["files"]
    assert file["status"] == "accepted", file["problems"]
    assert file["counts"] == {"rows_in": 30, "curated": 30, "quarantined": 0, "duplicates": 0}
    report = read_json(file["report_uri"])
    assert len(report["ignored_columns"]) == 19_997
    assert report["ignored_columns"][-1] == "measurement_19996"


@pytest.mark.parametrize("dataset", ["..", "a" * 3000, "Telco", "x\r\nBcc: y"])
def test_the_api_answers_an_invalid_dataset_name_with_a_404_naming_the_rule(stack, dataset):
    from tests.integration.conftest import api_event

    if "PredictFunction" not in stack.handlers:
        stack.handlers["PredictFunction"] = stack.load("PredictFunction")
    predict = stack.handlers["PredictFunction"]
    for method, route in (("POST", "predict"), ("GET", "model")):
        event = api_event(
            method,
            f"/v1/datasets/{quote_plus(dataset)}/{route}",
            f"/v1/datasets/{{dataset}}/{route}",
            {"dataset": dataset},
            "{}" if method == "POST" else None,
        )
        resp = predict.lambda_handler(event, Context())
        body = json.loads(resp["body"])
        assert resp["statusCode"] == 404, resp
        assert body["errors"][0]["field"] == "dataset" and "lowercase" in body["message"]
