"""The prediction API's body reader (tabflow.request_body): every hostile body is a 4xx that
names the problem, and every ordinary JSON body reads exactly as json.loads reads it.

The same cases go through the handler in tests/integration/test_predict_hostile.py."""

import base64
import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabflow.errors import BadRequest
from tabflow.request_body import MAX_DEPTH, read_json_body

LIMIT = 2 * 1024 * 1024
RECORD = {"tenure": 2, "contract": "Month-to-month", "monthly_charges": 95.5}
TEXT = json.dumps(RECORD)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def read(body, *, b64_flag=False, headers=None):
    return read_json_body(body, base64_encoded=b64_flag, headers=headers or {}, max_bytes=LIMIT)


# (case, body, isBase64Encoded, headers, status, words the message must hold)
HOSTILE = [
    ("10,000 nested arrays", "[" * 10_000 + "]" * 10_000, False, {}, 400, "nested more than 64"),
    ("10,000 nested objects", '{"a":' * 10_000 + "1" + "}" * 10_000, False, {}, 400, "nested"),
    ("10,000 unclosed arrays", "[" * 10_000, False, {}, 400, "nested more than 64"),
    ("nesting hidden by strings", "[" + '"]",[' * 100 + "]" * 101, False, {}, 400, "nested"),
    ("65 levels", "[" * 65 + "]" * 65, False, {}, 400, "nested more than 64"),
    ("400-digit integer", '{"tenure": %s}' % ("9" * 400), False, {}, 400, "400 digits"),
    ("5,000-digit integer", '{"tenure": %s}' % ("9" * 5000), False, {}, 400, "5000 digits"),
    ("negative 5,000 digits", '{"tenure": -%s}' % ("9" * 5000), False, {}, 400, "5000 digits"),
    ("1e999", '{"tenure": 1e999}', False, {}, 400, "1e999"),
    ("-1E+999", '{"tenure": -1E+999}', False, {}, 400, "out of range for a 64-bit float"),
    ("400-digit mantissa", '{"tenure": %s.5}' % ("9" * 400), False, {}, 400, "out of range"),
    ("NaN", '{"tenure": NaN}', False, {}, 400, "NaN is not a JSON number"),
    ("-Infinity", '[{"tenure": -Infinity}]', False, {}, 400, "-Infinity is not a JSON number"),
    (
        "gzip, base64",
        b64(gzip.compress(TEXT.encode())),
        True,
        {"Content-Encoding": "gzip"},
        415,
        "Content-Encoding 'gzip'",
    ),
    ("gzip header, text", TEXT, False, {"content-encoding": "GZIP"}, 415, "Content-Encoding"),
    ("deflate", TEXT, False, {"CONTENT-ENCODING": "deflate"}, 415, "'deflate'"),
    ("gzip bytes, no header", b64(gzip.compress(TEXT.encode())), True, {}, 400, "not valid UTF-8"),
    ("UTF-16 with BOM", b64(TEXT.encode("utf-16")), True, {}, 415, "UTF-16"),
    ("UTF-16-LE", b64(TEXT.encode("utf-16-le")), True, {}, 415, "UTF-16-LE, not UTF-8"),
    ("UTF-16-BE", b64(TEXT.encode("utf-16-be")), True, {}, 415, "UTF-16-BE"),
    ("UTF-32", b64(TEXT.encode("utf-32")), True, {}, 415, "UTF-32"),
    ("UTF-16-LE as text", TEXT.encode("utf-16-le").decode(), False, {}, 415, "UTF-16-LE"),
    ("Latin-1 byte", b64('{"contract": "Café"}'.encode("latin-1")), True, {}, 400, "0xe9"),
    ("not base64", "!!not base64!!", True, {}, 400, "not valid base64"),
    (
        "charset=utf-16",
        TEXT,
        False,
        {"Content-Type": "application/json; charset=UTF-16"},
        415,
        "charset",
    ),
    ("duplicate key", '{"tenure": 1, "tenure": 70}', False, {}, 400, 'duplicate key "tenure"'),
    ("duplicate key deep", '{"records": [{"a": 1}, {"b": 1, "b": 2}]}', False, {}, 400, '"b"'),
    ("lone high surrogate", '{"contract": "\\ud800"}', False, {}, 400, "lone UTF-16 surrogate"),
    ("lone low surrogate key", '[{"\\udfff": 1}]', False, {}, 400, "lone UTF-16 surrogate"),
    ("lone surrogate in text", '{"contract": "\ud800"}', False, {}, 400, "not valid Unicode"),
    ("empty body", "", False, {}, 400, "the body is empty"),
    ("no body", None, False, {}, 400, "the body is empty"),
    ("blank body", " \r\n\t", False, {}, 400, "the body is empty"),
    ("over 2 MiB", "x" * (LIMIT + 1), False, {}, 413, "body too large"),
    ("over 2 MiB, base64", b64(b" " * (LIMIT + 1)), True, {}, 413, "body too large"),
    ("over 2 MiB of UTF-8", "é" * (LIMIT // 2 + 1), False, {}, 413, "body too large"),
    (
        "form body",
        "a=1&b=2",
        False,
        {"Content-Type": "application/x-www-form-urlencoded"},
        400,
        "Content-Type is",
    ),
    ("XML", "<record/>", False, {"Content-Type": "application/xml"}, 400, "must be JSON"),
    ("trailing data", TEXT + TEXT, False, {}, 400, "Extra data: line 1"),
    (
        "raw control character",
        '{"contract": "a\x00b"}',
        False,
        {},
        400,
        "Invalid control character",
    ),
    ("unterminated string", '{"a": "' + '\\"' * 50_000, False, {}, 400, "Unterminated string"),
    # Batches (more than 64 brackets) take another path: the same answers.
    (
        "duplicate key in record 999",
        '{"records": [' + ", ".join([TEXT] * 999 + ['{"a": 1, "a": 2}']) + "]}",
        False,
        {},
        400,
        'duplicate key "a"',
    ),
    (
        "duplicate key nested in a batch",
        "[" + ", ".join(['{"k": {"z": 1, "z": 2}}'] * 100) + "]",
        False,
        {},
        400,
        'duplicate key "z"',
    ),
    (
        "5,000 digits in a batch",
        "[" + ", ".join([TEXT] * 99 + ["9" * 5000]) + "]",
        False,
        {},
        400,
        "5000 digits",
    ),
    ("NaN in a batch", "[" + ", ".join([TEXT] * 99 + ['{"a": NaN}']) + "]", False, {}, 400, "NaN"),
    (
        "lone surrogate in a batch",
        "[" + ", ".join([TEXT] * 99 + ['"\\udbff"']) + "]",
        False,
        {},
        400,
        "surrogate",
    ),
]


@pytest.mark.parametrize(
    ("body", "is_b64", "headers", "status", "words"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_a_hostile_body_is_a_4xx_that_names_the_problem(body, is_b64, headers, status, words):
    with pytest.raises(BadRequest) as caught:
        read(body, b64_flag=is_b64, headers=headers)
    assert caught.value.status == status
    assert words in str(caught.value)
    assert caught.value.errors[0]["problem"] == str(caught.value)


ACCEPTED = [
    ("64 levels", "[" * MAX_DEPTH + "]" * MAX_DEPTH, False, {}),
    ("brackets inside strings", json.dumps([{"contract": "[" * 5000 + "{" * 5000}]), False, {}),
    ("escaped quotes and backslashes", json.dumps([{"c": '\\"[[' * 3000}]), False, {}),
    ("300-digit integer", '{"tenure": %s}' % ("9" * 300), False, {}),
    ("1.5e308", '{"tenure": 1.5e308}', False, {}),
    ("1e-999 (underflows to 0)", '{"tenure": 1e-999}', False, {}),
    ("UTF-8 BOM, base64", b64(b"\xef\xbb\xbf" + TEXT.encode()), True, {}),
    ("UTF-8 BOM, text", "\ufeff" + TEXT, False, {}),
    ("charset utf-8", TEXT, False, {"Content-Type": 'application/json; charset="UTF-8"'}),
    ("curl -d (form type)", TEXT, False, {"Content-Type": "application/x-www-form-urlencoded"}),
    ("Content-Encoding identity", TEXT, False, {"Content-Encoding": "identity"}),
    ("surrogate pair escape", '{"contract": "\\ud83d\\ude00"}', False, {}),
    ("escaped backslash before u", '{"contract": "\\\\ud800"}', False, {}),
    ("NUL escape", '{"contract": "a\\u0000b"}', False, {}),
    ("non-ASCII UTF-8, base64", b64('{"contract": "Café ☕"}'.encode()), True, {}),
    ("a 1 MB key", json.dumps({"k" * 1_000_000: 1}), False, {}),
    ("1,000 records", json.dumps({"records": [RECORD] * 1000}), False, {}),
    ("1,000 records, a list", json.dumps([RECORD] * 1000), False, {}),
    ("objects nested in a batch", json.dumps([{"k": {"z": 1}, "x": [{"y": 2}]}] * 100), False, {}),
    ("colons and brackets in keys", json.dumps([{"a:[{": 1, 'b\\"}:': "]:"}] * 100), False, {}),
]


@pytest.mark.parametrize(
    ("body", "is_b64", "headers"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_an_unusual_but_valid_body_reads_as_json_loads_reads_it(body, is_b64, headers):
    raw = base64.b64decode(body).decode("utf-8-sig") if is_b64 else body.removeprefix("\ufeff")
    assert read(body, b64_flag=is_b64, headers=headers) == json.loads(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values, st.booleans(), st.booleans())
def test_any_ordinary_json_reads_the_same_as_text_or_base64(value, as_b64, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    body = b64(text.encode()) if as_b64 else text
    assert read(body, b64_flag=as_b64) == json.loads(text)


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
batch_record = st.dictionaries(
    st.sampled_from(["tenure", "contract", "a:b", '"[{', "x\\"]),
    scalars
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=2),
    max_size=5,
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(batch_record, min_size=65, max_size=70), st.booleans())
def test_a_batch_reads_the_same_as_json_loads_reads_it(records, wrapped):
    """Over 64 brackets the reader checks duplicate keys by counting: the same result."""
    text = json.dumps({"records": records} if wrapped else records)
    assert read(text) == json.loads(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.binary(max_size=200).map(lambda b: (b64(b), True)),
        st.text(max_size=200).map(lambda t: (t, False)),
        st.lists(st.sampled_from(list('[]{}",:\\ 1e9-.ud800') + ["NaN"]), max_size=300).map(
            lambda parts: ("".join(parts), False)
        ),
        st.integers(60, 3000).map(lambda n: ("[" * n + "]" * n, False)),
        st.integers(290, 5000).map(lambda n: ("[1" + "0" * n + "]", False)),
    ),
    st.sampled_from([{}, {"Content-Type": "application/json"}, {"Content-Encoding": "gzip"}]),
)
def test_no_body_raises_anything_but_a_4xx(body_and_flag, headers):
    body, is_b64 = body_and_flag
    try:
        read(body, b64_flag=is_b64, headers=headers)
    except BadRequest as exc:
        assert 400 <= exc.status < 500 and str(exc)
