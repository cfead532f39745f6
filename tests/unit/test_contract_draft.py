"""`contract infer` on messy exports, end to end through the CLI: infer -> contract check
--sample -> ingest validation accepts the rows, the target has the right positive count,
and the records an application sends are accepted by the served feature spec."""

import io
from contextlib import redirect_stdout
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tabflow.cli import contract_main
from tabflow.contract import parse_contract
from tabflow.field_names import canonical_fields, name_lookup
from tabflow.readers import read_table
from tabflow.serving.records import records_to_columns
from tabflow.targets import resolve_target
from tabflow.training import build_feature_spec
from tabflow.validation import validate
from tabflow.values import parse_column, rules_for
from tests.messy import MessyExport, messy_hotel, messy_telco


@cache
def telco() -> MessyExport:
    return messy_telco()


@cache
def telco_later() -> MessyExport:
    return messy_telco(seed=8, out_of_range=True)


@pytest.fixture(scope="module")
def drafted(tmp_path_factory) -> Path:
    """`contract infer crm_churn_export.csv --target Churn --positive Yes --id "Customer ID"`,
    written next to the export: one draft for the tests that read it."""
    folder = tmp_path_factory.mktemp("draft")
    export = telco()
    (folder / export.name).write_bytes(export.data)
    out = io.StringIO()
    flags = ["--target", "Churn", "--positive", "Yes", "--id", "Customer ID"]
    with redirect_stdout(out):
        assert contract_main(["infer", str(folder / export.name), *flags]) == 0
    (folder / "draft.yaml").write_text(out.getvalue())
    return folder / "draft.yaml"


def infer(tmp_path: Path, capsys, export: MessyExport, *flags: str) -> Path:
    data = tmp_path / export.name
    data.write_bytes(export.data)
    assert contract_main(["infer", str(data), *flags]) == 0, capsys.readouterr().err
    out = tmp_path / "draft.yaml"
    out.write_text(capsys.readouterr().out)
    return out


def check(capsys, contract: Path, sample: Path) -> tuple[int, str, str]:
    code = contract_main(["check", str(contract), "--sample", str(sample)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_draft_with_target_positive_and_id_ingests_the_messy_export(tmp_path, capsys):
    export = telco()
    path = infer(tmp_path, capsys, export, "--target", "Churn", "--positive", "Yes",
                 "--id", "Customer ID")  # fmt: skip
    code, out, err = check(capsys, path, tmp_path / export.name)
    assert code == 0, err
    assert f"training would see 'Yes' {export.positives}, 'No'" in out

    contract = parse_contract(path.read_text())
    result = validate(read_table(export.data, name=export.name), contract, file=export.name)
    assert result.counts == {
        "rows_in": export.rows,
        "curated": export.unique_rows,
        "quarantined": export.missing_ids,  # rows without an id, and only those
        "duplicates": export.duplicates,
    }
    labels = resolve_target(contract, result.curated["churn"].tolist())
    assert labels.positives == export.positives  # not only the rows spelled exactly "Yes"
    cols = contract.columns
    assert contract.id_column == "customer_id" and not cols["customer_id"].nullable
    assert cols["churn"].type == "bool" and contract.target.positive_label == "Yes"
    assert (cols["exported_by"].feature, cols["exported_by"].required) == (False, False)
    assert cols["sales_rep"].type == "category" and "sales_rep" in contract.feature_columns
    assert cols["contract"].ignore_case and cols["contract"].categories == [
        "Month-to-month", "One year", "Two year"]  # fmt: skip
    assert cols["monthly_charges"].type == "money" and cols["monthly_charges"].max is None
    assert (cols["tenure"].min, cols["tenure"].warn_max) == (0, 72)


def _served(path: Path) -> tuple:
    export = telco()
    contract = parse_contract(path.read_text())
    result = validate(read_table(export.data, name=export.name), contract, file=export.name)
    return contract, build_feature_spec(contract, result.curated), list(export.records)


def test_the_records_an_application_sends_are_accepted_by_the_drafted_model_spec(drafted):
    """The source rows as JSON (numbers as numbers), their field names matched like file
    headers: every record accepted by values.py and by the API."""
    contract, spec, records = _served(drafted)
    assert "exported_by" not in {f.name for f in spec.fields}  # never asked of a client
    lookup = name_lookup(rules_for(contract).values())
    records = [canonical_fields(r, lookup)[0] for r in records]  # senior_citizen -> seniorcitizen
    rules = rules_for(contract)
    for feature in spec.fields:
        column = parse_column(rules[feature.name], [r.get(feature.name) for r in records])
        assert column.problems == [], feature.name
    for start in range(0, len(records), 1000):
        records_to_columns(spec, records[start : start + 1000])  # raises BadRequest if not


def test_the_api_accepts_the_records_spelled_as_the_source_spells_them(drafted):
    """The export said "SeniorCitizen", the application sends "senior_citizen"."""
    _, spec, records = _served(drafted)
    columns = records_to_columns(spec, records[:1000])  # raises BadRequest if one is refused
    (senior,) = [name for name in columns if "senior" in name]  # the draft's spelling
    assert len(columns[senior]) == 1000 and None not in columns[senior]


def test_without_flags_the_target_id_and_positive_are_guessed(tmp_path, capsys):
    export = telco()
    path = infer(tmp_path, capsys, export)
    contract = parse_contract(path.read_text())
    assert contract.target.column == "churn" and contract.id_column == "customer_id"
    assert contract.target.positive_label in ("Yes", "yes", "Y", "TRUE")
    code, out, err = check(capsys, path, tmp_path / export.name)
    assert code == 0, err
    assert f"training would see {contract.target.positive_label!r} {export.positives}" in out


def test_a_later_export_outside_the_first_range_is_accepted_with_warnings(
    drafted, tmp_path, capsys
):
    path = drafted
    later = telco_later()
    sample = tmp_path / "later.csv"
    sample.write_bytes(later.data)
    code, out, err = check(capsys, path, sample)
    assert code == 0, err
    assert "warning: column 'tenure':" in out and "outside the expected range [0, 72]" in out
    result = validate(read_table(later.data, name="later.csv"), parse_contract(path.read_text()),
                      file="later.csv")  # fmt: skip
    assert result.counts["quarantined"] == later.missing_ids
    assert result.columns["monthly_charges"]["outside_expected_range"] > 0


def test_an_old_style_draft_with_eight_target_spellings_now_counts_every_positive(
    drafted, tmp_path, capsys
):
    """What `contract infer` drafted before: the target as a category of 8 spellings with
    positive_label "Yes". Training took only the exact spelling "Yes" as positive."""
    export = telco()
    text = drafted.read_text().replace(
        "  churn:\n    type: bool\n",
        "  churn:\n    type: category\n    categories: ['FALSE', 'N', 'No', 'TRUE', 'Y', 'Yes', "
        "'no', 'yes']\n",
    )
    old = tmp_path / "old.yaml"
    old.write_text(text)
    code, out, err = check(capsys, old, drafted.parent / export.name)
    assert code == 0, err
    assert f"'Yes' {export.positives}" in out


def _small(tmp_path: Path, body: str) -> Path:
    sample = tmp_path / "small.csv"
    sample.write_text("id,label,x\n" + body)
    return sample


def _contract(tmp_path: Path, label: str, positive: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"dataset: small\ntarget: {{column: label, positive_label: {positive!r}}}\n"
        f"id_column: id\ncolumns:\n  id: {{type: string, feature: false}}\n"
        f"  label: {label}\n  x: {{type: float}}\n"
    )
    return path


def test_check_refuses_a_target_with_three_classes_and_shows_what_it_saw(tmp_path, capsys):
    rows = [("Yes", 6), ("No", 9), ("Maybe", 4)]
    body = "".join(f"r{i}{v},{v},{i}\n" for v, n in rows for i in range(n))
    path = _contract(tmp_path, "{type: category, unseen: keep}", "Yes")
    code, _, err = check(capsys, path, _small(tmp_path, body))
    assert code == 1
    assert "resolves to 3 class(es)" in err and "'No' 9, 'Yes' 6, 'Maybe' 4" in err


def test_check_refuses_a_positive_label_that_matches_no_row(tmp_path, capsys):
    body = "".join(f"r{i},{'churned' if i % 3 else 'stayed'},{i}\n" for i in range(12))
    path = _contract(tmp_path, "{type: category, unseen: keep}", "yes")
    code, _, err = check(capsys, path, _small(tmp_path, body))
    assert code == 1
    assert "positive_label 'yes' matches no row" in err and "'churned' 8, 'stayed' 4" in err


def test_a_word_that_is_the_only_missing_marker_of_a_category_is_kept_as_a_value(tmp_path, capsys):
    """A credit file whose `other_parties` is none/guarantor/co-applicant: "none" is data."""
    parties = ["none"] * 18 + ["guarantor"] * 5 + ["co-applicant"] * 4
    lines = [f"a{i},{'good' if i % 4 else 'bad'},{p}" for i, p in enumerate(parties)]
    sample = tmp_path / "credit.csv"
    sample.write_text("id,class,other_parties\n" + "\n".join(lines) + "\n")
    path = infer(tmp_path, capsys, MessyExport(sample.read_bytes(), "credit.csv", "class",
                 "bad", "id", 0, 0, 0, 0, 0), "--positive", "bad")  # fmt: skip
    contract = parse_contract(path.read_text())
    assert "none" in contract.columns["other_parties"].categories
    result = validate(read_table(sample.read_bytes(), name="c.csv"), contract, file="c.csv")
    assert (result.curated["other_parties"] == "none").sum() == 18


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--id", "nope"], "--id 'nope' is not a column of the file"),
        (["--target", "x"], "target 'x' has 3 distinct values"),
    ],
)
def test_infer_names_what_is_wrong(tmp_path, capsys, flags, message):
    sample = tmp_path / "f.csv"
    sample.write_text("id,x\n" + "".join(f"{i},{'abc'[i % 3]}\n" for i in range(30)))
    assert contract_main(["infer", str(sample), *flags]) == 1
    assert message in capsys.readouterr().err


def test_infer_asks_for_a_target_when_no_column_has_two_classes(tmp_path, capsys):
    sample = tmp_path / "f.csv"
    sample.write_text("id,x\n" + "".join(f"{i},{'abc'[i % 3]}\n" for i in range(30)))
    assert contract_main(["infer", str(sample)]) == 1
    assert "pass --target COLUMN" in capsys.readouterr().err


def test_a_messy_hotel_export_drafts_a_regression_contract_that_ingests_it(tmp_path, capsys):
    export = messy_hotel()
    if export is None:
        pytest.skip("shared/data/hotel_rates.csv is not present")
    path = infer(tmp_path, capsys, export, "--target", "ADR (€)", "--id", "Booking Id")
    code, out, err = check(capsys, path, tmp_path / export.name)
    assert code == 0, err
    contract = parse_contract(path.read_text())
    assert contract.target.kind == "regression" and contract.format.decimal == ","
    assert "coverage: 0.9" in path.read_text()  # written out: the user sees what is served
    assert contract.columns["country"].type == "category"  # > 50 values, kept
    result = validate(read_table(export.data, name=export.name), contract, file=export.name)
    assert result.counts["curated"] == export.unique_rows
    assert result.counts["quarantined"] == export.missing_ids


def test_a_category_level_the_export_did_not_hold_is_served_not_refused(drafted):
    """A drafted category lists the levels seen, but one file's levels are not all there
    are: a new payment method is accepted and reaches the model as missing."""
    contract, spec, records = _served(drafted)
    (payment,) = [f for f in spec.fields if "payment" in f.name]
    assert contract.columns[payment.name].unseen == "keep"
    record = dict(records[0], **{payment.name: "Crypto wallet"})
    columns = records_to_columns(spec, [record])
    assert columns[payment.name] == ["Crypto wallet"]
    column = spec.names.index(payment.name)
    assert np.isnan(spec.serving_matrix(columns)[0, column])
