"""One meaning per value: one table of messy values per column type, each with the typed
value or the named rejection every entry point must give.

The same table runs through values.py (one value, and a column of values as a request
carries them), through ingest validation of a CSV file (the text) and of a JSON Lines file
(the JSON values: what batch scoring and the API receive), and through the API's record
checks (serving.records_to_columns, which types each field by the rule stored with the
model's feature spec)."""

import csv
import io
import json
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from tabflow.contract import parse_contract
from tabflow.errors import BadRequest
from tabflow.field_names import match_names, name_lookup
from tabflow.readers import read_table
from tabflow.serving.records import records_to_columns
from tabflow.training import build_feature_spec
from tabflow.validation import map_headers, validate
from tabflow.values import (
    MISSING_VALUE,
    NOT_BOOLEAN,
    NOT_WHOLE,
    TOO_LARGE_INT,
    above_maximum,
    below_minimum,
    not_a_category,
    not_a_date,
    not_a_number,
    parse_column,
    parse_value,
    rules_for,
)

CONTRACT = parse_contract("""
dataset: meaning
target: {column: label, positive_label: "Yes"}
duplicates: keep
columns:
  label: {type: bool}
  n: {type: int, min: 0, max: 100, required: false}
  big: {type: int, required: false}
  x: {type: float, required: false}
  price: {type: money, required: false}
  rate: {type: percent, required: false}
  flag: {type: bool, required: false}
  plan: {type: category, categories: [basic, pro, none], required: false}
  level: {type: category, categories: [seniority, junior], ignore_case: true, required: false}
  yn: {type: category, categories: ["Yes", "No"], required: false}
  code: {type: category, categories: [a, b], missing_markers: ["NA"], required: false}
  must: {type: float, nullable: false, required: false}
  when: {type: datetime, required: false}
  note: {type: string, required: false}
  monthly_charges: {type: float, required: false, aliases: ["MRC"]}
""")
RULES = rules_for(CONTRACT)


class Reject(str):
    """The named reason a value is rejected."""


TEXT_CASES: list[tuple[str, str, Any]] = [
    ("n", "42", 42),
    ("n", " 7 ", 7),
    ("n", "2.0", 2),
    ("n", "1e2", 100),
    ("n", "1.5", Reject(NOT_WHOLE)),
    ("n", "true", Reject(not_a_number("int"))),
    ("n", "-3", Reject(below_minimum(0))),
    ("n", "101", Reject(above_maximum(100))),
    ("n", "100.5", Reject(above_maximum(100))),
    ("n", "NA", None),
    ("n", "?", None),
    ("n", "none", None),
    ("n", "", None),
    ("n", "N/A", None),
    ("big", "99999999999999999999", Reject(TOO_LARGE_INT)),
    ("x", "1.5", 1.5),
    ("x", "1,234.5", 1234.5),
    ("x", "1,23", Reject(not_a_number("float"))),
    ("x", "true", Reject(not_a_number("float"))),
    ("x", "inf", Reject(not_a_number("float"))),
    ("x", "1e400", Reject(not_a_number("float"))),
    ("x", "NaN", None),
    ("x", "٣", Reject(not_a_number("float"))),  # an Arabic-Indic digit is not a number here
    ("price", "$1,234.50", 1234.5),
    ("price", "(12.00)", -12.0),
    ("price", "USD 99", 99.0),
    ("price", "12 €", 12.0),
    ("price", "-$3.50", -3.5),
    ("price", "abc", Reject(not_a_number("money"))),
    ("rate", "12.5%", 0.125),
    ("rate", "12.5", 0.125),
    ("rate", "%", Reject(not_a_number("percent"))),
    ("flag", "Yes", True),
    ("flag", "y", True),
    ("flag", "TRUE", True),
    ("flag", "t", True),
    ("flag", "1", True),
    ("flag", "No", False),
    ("flag", "N", False),
    ("flag", "false", False),
    ("flag", "0", False),
    ("flag", "maybe", Reject(NOT_BOOLEAN)),
    ("flag", "2", Reject(NOT_BOOLEAN)),
    ("flag", "1.0", Reject(NOT_BOOLEAN)),
    ("flag", "NA", None),
    ("plan", "basic", "basic"),
    ("plan", " pro ", "pro"),
    ("plan", "none", "none"),  # a declared category is never a missing marker
    ("plan", "None", Reject(not_a_category(["basic", "pro", "none"]))),
    ("plan", "gold", Reject(not_a_category(["basic", "pro", "none"]))),
    ("plan", "NA", None),
    ("level", " Seniority ", "seniority"),
    ("level", "JUNIOR", "junior"),
    ("level", "senior", Reject(not_a_category(["seniority", "junior"]))),
    ("yn", "Y", "Yes"),
    ("yn", "false", "No"),
    ("yn", "yes", "Yes"),
    ("yn", "1", "Yes"),
    ("yn", "maybe", Reject(not_a_category(["Yes", "No"]))),
    ("code", "?", Reject(not_a_category(["a", "b"]))),  # "?" is a value in this column
    ("code", "NA", None),
    ("code", "none", Reject(not_a_category(["a", "b"]))),
    ("must", "NA", Reject(MISSING_VALUE)),
    ("must", "", Reject(MISSING_VALUE)),
    ("when", "2024-05-01", datetime(2024, 5, 1)),
    ("when", "2024-05-01T13:45:00Z", datetime(2024, 5, 1, 13, 45)),
    ("when", "2024-05-01 13:45:00+02:00", datetime(2024, 5, 1, 11, 45)),
    ("when", "01/05/2024", Reject(not_a_date(None))),
    ("when", "1500-01-01", Reject(not_a_date(None))),  # outside what a column holds
    ("when", "0001-01-01T00:00:00+01:00", Reject(not_a_date(None))),  # UTC is before year 1
    ("when", "2262-04-10T23:00:00Z", datetime(2262, 4, 10, 23)),
    ("when", "NA", None),
    ("note", ' =HYPERLINK("x") ', '=HYPERLINK("x")'),
    ("note", "none", None),
]

# (column, JSON value, expected, a model input: None when the API ignores the field)
JSON_CASES: list[tuple[str, Any, Any, bool]] = [
    ("n", 42, 42, True),
    ("n", 2.0, 2, True),
    ("n", "42", 42, True),
    ("n", 1.5, Reject(NOT_WHOLE), True),
    ("n", True, Reject(not_a_number("int")), True),
    ("n", -3, Reject(below_minimum(0)), True),
    ("n", None, None, True),
    ("n", "NA", None, True),
    ("x", 1.5, 1.5, True),
    ("x", True, Reject(not_a_number("float")), True),
    ("x", "1,234.5", 1234.5, True),
    ("flag", True, True, True),
    ("flag", 1, True, True),
    ("flag", 0, False, True),
    ("flag", "Yes", True, True),
    ("flag", "no", False, True),
    ("flag", 2, Reject(NOT_BOOLEAN), True),
    ("flag", 1.0, Reject(NOT_BOOLEAN), True),
    ("price", 12.5, 12.5, True),
    ("price", "$1,234.50", 1234.5, True),
    ("rate", 12.5, 0.125, True),
    ("plan", "basic", "basic", True),
    ("plan", "none", "none", True),
    ("plan", " pro ", "pro", True),
    ("plan", "NA", None, True),
    ("level", " Seniority ", "seniority", True),
    ("yn", True, "Yes", True),
    ("yn", "Y", "Yes", True),
    ("yn", "none", None, True),  # not a declared category: a missing marker, as in files
    ("must", None, Reject(MISSING_VALUE), True),
    ("when", "2024-05-01T13:45:00Z", datetime(2024, 5, 1, 13, 45), None),
    ("note", 5, "5", None),
    ("note", {"a": 1}, '{"a": 1}', None),
]


def same(got: Any, expected: Any) -> bool:
    """Typed values compared across paths (pandas scalars, numpy ints, timestamps)."""
    if expected is None:
        return got is None or bool(pd.isna(got))
    if isinstance(expected, datetime):
        return pd.Timestamp(got) == pd.Timestamp(expected)
    if isinstance(expected, bool):
        return bool(got) is expected and not isinstance(got, str)
    if isinstance(expected, int | float):
        return not isinstance(got, str | bool) and float(got) == float(expected)
    return got == expected


def via_values(column: str, value: Any) -> Any:
    parsed = parse_value(RULES[column], value)
    return Reject(parsed.problem) if parsed.problem else parsed.value


def via_ingest(column: str, values: list[Any], *, jsonl: bool) -> list[Any]:
    """Every value in one file (a row each), validated as ingest does."""
    if jsonl:
        data = "\n".join(json.dumps({"label": "Yes", column: v}) for v in values).encode()
        name = "f.jsonl"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows([["label", column], *(["Yes", v] for v in values)])
        data, name = buffer.getvalue().encode(), "f.csv"
    result = validate(read_table(data, name=name), CONTRACT, file=name)
    assert result.counts["rows_in"] == len(values)
    bad = {q["line"]: q["problems"] for q in result.quarantined}
    curated = iter(result.curated[column].tolist())
    out = []
    for line in range(2, len(values) + 2) if not jsonl else range(1, len(values) + 1):
        problems = bad.get(line)
        out.append(Reject(problems[0]["reason"]) if problems else next(curated))
    return out


def outcome_ok(got: Any, expected: Any) -> bool:
    if isinstance(expected, Reject):
        return isinstance(got, Reject) and got == expected
    return not isinstance(got, Reject) and same(got, expected)


@pytest.mark.parametrize(("column", "text", "expected"), TEXT_CASES)
def test_values_type_a_file_value(column, text, expected):
    assert outcome_ok(via_values(column, text), expected)


@pytest.mark.parametrize("column", sorted({c for c, _, _ in TEXT_CASES}))
def test_ingest_of_a_csv_file_gives_the_same_values_and_reasons(column):
    cases = [(t, e) for c, t, e in TEXT_CASES if c == column]
    got = via_ingest(column, [t for t, _ in cases], jsonl=False)
    wrong = [(t, e, g) for (t, e), g in zip(cases, got, strict=True) if not outcome_ok(g, e)]
    assert not wrong


@pytest.mark.parametrize(("column", "value", "expected"), [c[:3] for c in JSON_CASES])
def test_values_type_a_json_value_as_its_text_in_a_file(column, value, expected):
    assert outcome_ok(via_values(column, value), expected)


@pytest.mark.parametrize("column", sorted({c for c, *_ in JSON_CASES}))
def test_a_json_lines_file_and_a_request_column_give_the_same_values(column):
    """Batch scoring reads JSON Lines through ingest validation; a request's field is a
    column of JSON values: both give what values.parse_value gives one value."""
    cases = [(v, e) for c, v, e, _ in JSON_CASES if c == column]
    in_file = via_ingest(column, [v for v, _ in cases], jsonl=True)
    request = parse_column(RULES[column], [v for v, _ in cases])
    problems = dict(request.problems)
    for i, ((value, expected), from_file) in enumerate(zip(cases, in_file, strict=True)):
        from_request = Reject(problems[i]) if i in problems else request.values[i]
        assert outcome_ok(from_file, expected), (value, from_file)
        assert outcome_ok(from_request, expected), (value, from_request)


def via_api(column: str, value: Any) -> Any:
    frame = pd.DataFrame({"label": [True, False], column: [None, None]})
    spec = build_feature_spec(CONTRACT, frame)
    try:
        columns = records_to_columns(spec, [{column: value}])
    except BadRequest as exc:
        return Reject(exc.errors[0]["problem"])
    return columns[column][0]


def _api_case(column: str, value: Any, expected: Any, model_input: bool | None):
    if model_input is None:
        marks = pytest.mark.skip(reason=f"{column!r} is not a model input: the API ignores it")
    else:
        marks = ()
    return pytest.param(column, value, expected, marks=marks, id=f"{column}-{value!r}")


@pytest.mark.parametrize(("column", "value", "expected"), [_api_case(*c) for c in JSON_CASES])
def test_the_api_gives_the_same_value_or_the_same_reason(column, value, expected):
    assert outcome_ok(via_api(column, value), expected)


NAMES = ["monthly_charges", "Monthly Charges ($)", "MONTHLY-CHARGES", "monthlyCharges", "mrc"]


@pytest.mark.parametrize("header", NAMES)
def test_a_field_name_matches_its_column_ignoring_case_spaces_and_punctuation(header):
    mapping, clashes = match_names([header], name_lookup(RULES.values()))
    assert mapping == {header: "monthly_charges"} and not clashes
    data = f"label,{header}\nYes,12.5\n".replace(f",{header}", f',"{header}"').encode()
    assert map_headers([header], CONTRACT, file="f.csv") == {header: "monthly_charges"}
    result = validate(read_table(data, name="f.csv"), CONTRACT, file="f.csv")
    assert result.curated["monthly_charges"].tolist() == [12.5]


@pytest.mark.parametrize("header", NAMES)
def test_the_api_matches_field_names_like_ingest(header):
    frame = pd.DataFrame({"label": [True, False], "monthly_charges": [1.0, 2.0]})
    spec = build_feature_spec(CONTRACT, frame)
    assert records_to_columns(spec, [{header: 12.5}])["monthly_charges"] == [12.5]


def test_two_spellings_of_one_field_are_a_named_clash_everywhere():
    names = ["Monthly Charges", "monthly_charges"]
    _, clashes = match_names(names, name_lookup(RULES.values()))
    assert clashes == [("Monthly Charges", "monthly_charges", "monthly_charges")]
    with pytest.raises(Exception, match="both name column 'monthly_charges'"):
        map_headers(names, CONTRACT, file="f.csv")


def test_a_request_column_takes_the_fast_path_and_the_slow_path_alike():
    values = [1, 2.0, 3, 250, None, 4.5]
    fast = parse_column(RULES["n"], [v for v in values if v is not None])
    slow = parse_column(RULES["n"], values)
    assert fast.values == [1, 2, 3, None, None]
    assert fast.problems == [(3, above_maximum(100)), (4, NOT_WHOLE)]
    assert slow.values == [1, 2, 3, None, None, None]
    assert slow.problems == [(3, above_maximum(100)), (5, NOT_WHOLE)]
