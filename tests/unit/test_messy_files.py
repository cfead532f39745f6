"""Real exports: encodings, delimiters, line numbers, odd headers, money, percents, dates."""

import codecs
import gzip
import io

import pandas as pd
import pyarrow as pa
import pytest

from tabflow.contract import ColumnType, FileFormat, parse_contract
from tabflow.readers import normalise_header, read_table
from tabflow.validation import hash_values, validate
from tabflow.value_columns import parse_datetimes, parse_numbers
from tests.conftest import ROOT

ORDERS = parse_contract((ROOT / "tests" / "data" / "orders.yaml").read_text())
HEADER = "Order #,customer,ordered_at,Amount ($),discount,qty,channel,email,returned\n"


def orders(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"]
)
def test_encodings_are_detected(encoding):
    data = "name,city\nJosé,Zürich\nÅsa,Malmö\n".encode(encoding)
    table = read_table(data, name="people.csv")
    assert table.frame["city"].tolist() == ["Zürich", "Malmö"] and list(table.frame.columns) == [
        "name",
        "city",
    ]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(sep):
    data = (
        sep.join(["a", "b", "c"])
        + "\r\n"
        + sep.join(["1", "2,5" if sep != "," else "2", "x"])
        + "\r\n"
    )
    table = read_table(data.encode(), name="x.csv")
    assert table.delimiter == sep and list(table.frame.columns) == ["a", "b", "c"]


def test_line_numbers_survive_multi_line_quoted_fields_and_ragged_rows():
    data = b'a,b,c\n1,2,3\n4,5\n"multi\nline",7,8\n9,10,11,12\n13,14,15\n'
    table = read_table(data, name="x.csv")
    assert table.line_numbers.tolist() == [2, 4, 7]
    assert [(b.line, b.reason) for b in table.broken] == [
        (3, "expected 3 fields, found 2"),
        (6, "expected 3 fields, found 4"),
    ]
    assert table.rows_in == 5


def test_parquet_with_numbers_stored_as_strings_and_nulls():
    frame = pd.DataFrame(
        {"a": ["1", "2", None], "b": [1.5, None, 3.0], "flag": [True, False, None]}
    )
    buf = io.BytesIO()
    frame.to_parquet(buf)
    table = read_table(buf.getvalue(), name="x.parquet")
    assert table.frame.to_dict("list") == {
        "a": ["1", "2", ""],
        "b": ["1.5", "", "3"],
        "flag": ["true", "false", ""],
    }


def test_json_lines_keep_broken_lines_with_their_numbers():
    data = b'{"a": 1, "b": "x"}\n{"a": 2\n\n[1,2]\n{"a": 3, "b": null}\n'
    table = read_table(data, name="x.jsonl")
    assert table.frame.to_dict("list") == {"a": ["1", "3"], "b": ["x", ""]}
    assert table.line_numbers.tolist() == [1, 5]
    assert [b.line for b in table.broken] == [2, 4]


def test_gzip_is_read_transparently():
    assert read_table(gzip.compress(b"a,b\n1,2\n"), name="x.csv.gz").frame.to_dict("list") == {
        "a": ["1"],
        "b": ["2"],
    }


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("  Monthly Charges ($) ", "monthly_charges"),
        ("customerID", "customerid"),
        ("Order #", "order"),
        ("e-mail", "e_mail"),
        ("TOTAL__charges", "total_charges"),
    ],
)
def test_headers_are_normalised(header, expected):
    assert normalise_header(header) == expected


@pytest.mark.parametrize(
    ("text", "kind", "decimal", "expected"),
    [
        ("$1,234.50", ColumnType.MONEY, ".", 1234.5),
        ("USD 99", ColumnType.MONEY, ".", 99.0),
        ("(12.00)", ColumnType.MONEY, ".", -12.0),
        ("1.234,50 €", ColumnType.MONEY, ",", 1234.5),
        ("12.5%", ColumnType.PERCENT, ".", 0.125),
        ("7", ColumnType.PERCENT, ".", 0.07),
        ("3,75", ColumnType.FLOAT, ",", 3.75),
        ("1,000,000", ColumnType.FLOAT, ".", 1_000_000.0),
        ("-2.5e3", ColumnType.FLOAT, ".", -2500.0),
    ],
)
def test_numbers_in_the_forms_exports_use(text, kind, decimal, expected):
    numbers, bad = parse_numbers(pa.array([text]), kind, FileFormat(decimal=decimal))
    assert not bad[0] and numbers[0].as_py() == pytest.approx(expected)


@pytest.mark.parametrize("text", ["12 kg", "1,23,4", "abc", "1.2.3", "=1+2", "$"])
def test_numbers_that_are_not_numbers_stay_invalid(text):
    _, bad = parse_numbers(pa.array([text]), ColumnType.FLOAT, FileFormat())
    assert bad[0]


def test_dates_in_declared_formats_and_a_clear_failure_for_others():
    values, bad = parse_datetimes(
        pa.array(["2024-03-01 10:00", "02/03/2024 11:30", "March 3rd"]),
        ["%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
    )
    assert values.to_pylist()[:2] == [
        pd.Timestamp("2024-03-01 10:00"),
        pd.Timestamp("2024-03-02 11:30"),
    ]
    assert bad.tolist() == [False, False, True]


def test_a_messy_export_is_curated_with_aliases_hashing_and_id_duplicates():
    data = orders(
        'A1,c1,2024-03-01 10:00,"$1,200.00",10%,2,web,ann@example.com,no',
        "A2,c1,02/03/2024 09:15,$35.5,0,1,store,ann@example.com,yes",
        "A3,c2,2024-03-02 12:00,$12,5%,0,web,bob@example.com,no",  # qty below 1
        "A4,c2,yesterday,$12,5%,1,web,bob@example.com,no",  # bad date
        "A2,c1,02/03/2024 09:15,$36.5,0,1,store,ann@example.com,yes",  # A2 again: the last wins
    )
    result = validate(read_table(data, name="orders.csv"), ORDERS, file="orders.csv", salt="s3cret")
    assert result.counts == {"rows_in": 5, "curated": 2, "quarantined": 2, "duplicates": 1}
    assert result.headers == {"Order #": "order_id", "Amount ($)": "amount"}
    assert "notes" not in result.ignored_columns  # an optional column may be absent
    curated = result.curated.set_index("order_id")
    assert curated.loc["A1", "amount"] == 1200.0 and curated.loc["A1", "discount"] == pytest.approx(
        0.1
    )
    assert curated.loc["A2", "amount"] == 36.5  # drop_id_keep_last
    assert curated.loc["A2", "ordered_at"] == pd.Timestamp("2024-03-02 09:15")
    assert (
        curated.loc["A1", "email"]
        == hash_values(pa.array(["ann@example.com"]), "s3cret")[0].as_py()
    )
    assert "ann@example.com" not in result.curated.to_csv()
    reasons = {q["line"]: q["problems"][0]["reason"] for q in result.quarantined}
    assert reasons[4] == "below minimum 1" and reasons[5].startswith(
        "not a date in the declared format"
    )


def test_the_hash_depends_on_the_salt():
    a = hash_values(pa.array(["x", None]), "one").to_pylist()
    b = hash_values(pa.array(["x", None]), "two").to_pylist()
    assert a[0] != b[0] and a[1] is None and len(a[0]) == 64


def test_formula_strings_are_kept_as_text():
    data = orders('A1,c1,2024-03-01 10:00,$1,0,1,web,"=HYPERLINK(""http://x"",""y"")",no')
    result = validate(
        read_table(data, name="o.csv"),
        ORDERS.model_copy(
            update={
                "columns": {
                    **ORDERS.columns,
                    "email": ORDERS.columns["email"].model_copy(update={"pii": "none"}),
                }
            }
        ),
        file="o.csv",
    )
    assert result.curated["email"][0] == '=HYPERLINK("http://x","y")'


def test_utf16_file_with_bom_and_crlf_goes_through_validation():
    text = (HEADER + "A1,c1,2024-03-01 10:00,$5,0,1,web,a@b.c,no\n").replace("\n", "\r\n")
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    result = validate(read_table(data, name="o.csv"), ORDERS, file="o.csv", salt="s")
    assert result.counts["curated"] == 1 and result.curated["amount"][0] == 5.0
    assert result.curated["discount"][0] == 0.0
