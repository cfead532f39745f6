import pytest

from tabflow.contract import parse_contract
from tabflow.errors import SchemaError
from tabflow.readers import read_table
from tabflow.validation import validate

CONTRACT = parse_contract("""
dataset: demo
target: {column: label, positive_label: "yes"}
id_column: id
columns:
  id: {type: string, nullable: false, feature: false}
  label: {type: category, categories: ["yes", "no"]}
  age: {type: int, min: 0, max: 120}
  income: {type: float, nullable: true}
  member: {type: bool}
  plan: {type: category, categories: [basic, pro]}
""")


def run(csv: str):
    return validate(read_table(csv.encode(), name="f.csv"), CONTRACT, file="f.csv")


def test_clean_rows_are_typed_and_counts_add_up():
    result = run("id,label,age,income,member,plan\na,yes,30,100.5,Yes,basic\nb,no,40,,no,pro\n")
    assert result.counts == {"rows_in": 2, "curated": 2, "quarantined": 0, "duplicates": 0}
    row = result.curated.iloc[0]
    assert row["age"] == 30 and row["income"] == 100.5 and bool(row["member"]) is True
    assert result.curated["income"].isna().iloc[1]  # empty is missing, not an error


@pytest.mark.parametrize("marker", ["", " ", "NA", "n/a", "null", "None", "?", "-", "NaN"])
def test_missing_markers_become_missing(marker):
    result = run(f"id,label,age,income,member,plan\na,yes,30,{marker},1,basic\n")
    assert result.counts["curated"] == 1
    assert result.curated["income"].isna().all()


@pytest.mark.parametrize("spelling", ["Yes", "y", "TRUE", "t", "1", "No", "N", "false", "0"])
def test_boolean_spellings(spelling):
    result = run(f"id,label,age,income,member,plan\na,yes,30,1,{spelling},basic\n")
    assert result.counts["curated"] == 1
    assert bool(result.curated["member"].iloc[0]) is (
        spelling.lower() in {"yes", "y", "true", "t", "1"}
    )


def test_bad_rows_are_quarantined_with_line_column_and_reason():
    result = run(
        "id,label,age,income,member,plan\n"
        "a,yes,30,1,1,basic\n"
        "b,yes,abc,1,1,basic\n"  # line 3: not a number
        "c,maybe,30,1,1,basic\n"  # line 4: unknown label
        "d,no,130,1,1,gold\n"  # line 5: above max and unseen category
        "e,,30,1,1,basic\n"
    )  # line 6: missing target
    assert result.counts == {"rows_in": 5, "curated": 1, "quarantined": 4, "duplicates": 0}
    by_line = {q["line"]: q for q in result.quarantined}
    assert set(by_line) == {3, 4, 5, 6}
    assert by_line[3]["problems"] == [
        {"column": "age", "reason": "not a number (int)", "value": "abc"}
    ]
    assert by_line[4]["problems"][0]["column"] == "label"
    reasons = {p["column"]: p["reason"] for p in by_line[5]["problems"]}
    assert reasons["age"] == "above maximum 120" and "allowed categories" in reasons["plan"]
    assert by_line[6]["problems"][0]["reason"] == "missing value in the target"
    assert by_line[3]["row"]["id"] == "b"  # the raw row is kept whole


def test_exact_duplicates_are_set_aside_and_counted():
    result = run(
        "id,label,age,income,member,plan\n"
        "a,yes,30,1,1,basic\n"
        "a,yes,30,1,1,basic\n"
        "b,no,31,1,1,basic\n"
    )
    assert result.counts == {"rows_in": 3, "curated": 2, "quarantined": 0, "duplicates": 1}
    assert result.duplicates["_line"].tolist() == [3]


def test_missing_required_column_rejects_the_file_and_names_it():
    with pytest.raises(SchemaError) as err:
        run("id,label,age,income,member\na,yes,30,1,1\n")
    assert "'plan'" in str(err.value) and err.value.problems == ["missing required column 'plan'"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"\x1f\x8b\x08garbage", "not a valid gzip"),
        (b"id,label\n\x00\x01\x02\x03bad\x00\x00", "binary data"),
    ],
)
def test_unreadable_files_get_a_clear_error(data, expected):
    with pytest.raises(SchemaError) as err:
        read_table(data, name="bad.csv")
    assert expected in str(err.value) and "bad.csv" in str(err.value)


def test_telco_file_is_fully_curated(telco_csv, telco_contract_text):
    contract = parse_contract(telco_contract_text)
    result = validate(read_table(telco_csv, name="telco.csv"), contract, file="telco.csv")
    assert result.counts["rows_in"] == 7043
    assert result.counts["rows_in"] == sum(
        result.counts[k] for k in ("curated", "quarantined", "duplicates")
    )
    assert result.counts["quarantined"] == 0
    assert result.columns["total_charges"]["missing"] == 11  # blank for brand-new customers
