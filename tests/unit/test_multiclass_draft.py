"""`contract infer` drafts a multiclass target, through the CLI a new user runs with only the
target named: on a messy export of the NYC flights (``carrier`` as the target, spelled in
several cases, padded, with missing markers, duplicate rows) the draft parses, merges the rare
carriers into ``other`` with a comment saying why, and its target resolves on the file with
the right rows per class; a numbered target is drafted as classes, a quantity as a regression,
and a text column of too many values is refused with what was seen.

The flights file is the shared data (``../shared/data`` beside the repository, or the folder
named by TABFLOW_SHARED_DATA); without it that test is skipped."""

import io
import os
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tabflow.cli import contract_main
from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.targets import resolve_target
from tabflow.validation import map_headers, validate
from tests.conftest import ROOT

SHARED = Path(os.environ.get("TABFLOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
FLIGHTS = SHARED / "flights_2013.csv.gz"
MARKERS = ["NA", "?", "", "N/A", "none"]


@cache
def messy_flights(rows: int = 3000, seed: int = 5) -> tuple[bytes, pd.Series, int]:
    """The export, each unique row's true carrier (None: the row's carrier is missing), and
    the rows of the export (copies included) whose carrier is a missing marker."""
    rng = np.random.default_rng(seed)
    frame = pd.read_csv(FLIGHTS, dtype=str, keep_default_na=False).sample(rows, random_state=seed)
    truth = frame["carrier"].copy()
    spelled = truth.copy()
    lower = rng.random(rows) < 0.1
    spelled[lower] = spelled[lower].str.lower()  # "ua", "b6"
    padded = rng.random(rows) < 0.05
    spelled[padded] = " " + spelled[padded] + " "
    missing = rng.random(rows) < 0.02
    spelled[missing] = rng.choice(MARKERS, missing.sum())
    truth[missing] = None
    frame["carrier"] = spelled
    copies = frame.sample(frac=0.02, random_state=seed)
    export = pd.concat([frame, copies]).rename(columns={"carrier": "Carrier"})
    buffer = io.StringIO()
    export.to_csv(buffer, index=False)
    return buffer.getvalue().encode(), truth, int(export["Carrier"].isin(MARKERS).sum())


def infer(tmp_path: Path, capsys, name: str, data: bytes, *flags: str) -> tuple[int, str, str]:
    (tmp_path / name).write_bytes(data)
    code = contract_main(["infer", str(tmp_path / name), *flags])
    captured = capsys.readouterr()
    if code == 0:
        (tmp_path / "draft.yaml").write_text(captured.out)
    return code, captured.out, captured.err


def test_a_messy_flights_export_drafts_a_multiclass_carrier_that_resolves(tmp_path, capsys):
    if not FLIGHTS.exists():
        pytest.skip(f"{FLIGHTS} is not present")
    data, truth, missing_in_file = messy_flights()
    code, text, err = infer(tmp_path, capsys, "flights_export.csv", data, "--target", "carrier")
    assert code == 0, err
    contract = parse_contract(text)
    target = contract.target
    assert (target.column, target.kind, target.rare_classes) == ("carrier", "multiclass", "other")
    assert contract.gates.min_auc == 0.7

    counts = Counter(truth.dropna())  # what each unique row with a carrier truly is
    rare = sorted(c for c, n in counts.items() if n < target.min_class_rows)
    kept = {c: n for c, n in counts.items() if n >= target.min_class_rows}
    assert rare and len(kept) >= 3  # the sample has both: the test is about something
    line = next(x for x in text.splitlines() if x.startswith("  rare_classes: other"))
    assert line.split("#", 1)[1].strip().startswith(f"{len(rare)} class(es) have fewer than 20")
    assert all(repr(c) in line for c in rare[:10])
    assert yaml.safe_load(text)["target"]["rare_classes"] == "other"  # a comment, not a value

    # ingest keeps every row with a carrier once and quarantines only the missing ones
    raw = read_table(data, name="flights_export.csv")
    check = validate(raw, contract, file="flights_export.csv")
    assert check.counts["curated"] == truth.notna().sum()
    assert check.counts["quarantined"] == missing_in_file  # copies of such rows included
    trained = resolve_target(contract, check.curated["carrier"].tolist())
    assert not trained.errors, trained.message()
    expected = dict(sorted(kept.items())) | {"other": sum(counts[c] for c in rare)}
    assert trained.classes == expected  # case variants and padding folded into their class
    assert trained.merged == tuple(rare)

    header = next(
        h for h, n in map_headers(raw.columns, contract, file="").items() if n == "carrier"
    )
    column = raw.table.column(raw.columns.index(header)).to_pylist()
    seen = resolve_target(contract, column)  # the file's own column, markers and copies in it
    assert not seen.errors, seen.message()
    assert seen.missing == missing_in_file and not seen.invalid

    code = contract_main(["check", str(tmp_path / "draft.yaml"), "--sample",
                          str(tmp_path / "flights_export.csv")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"training would see {len(expected)} classes:" in out.out


def _csv(columns: dict[str, list]) -> bytes:
    return pd.DataFrame(columns).to_csv(index=False).encode()


def test_classes_with_enough_rows_need_no_rare_class_rule(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 150
    plan = rng.choice(["Basic", "Plus", "Premium"], n)
    plan = [p.upper() if i % 7 == 0 else p for i, p in enumerate(plan)]  # "PLUS" is "Plus"
    data = _csv({"user": [f"u{i}" for i in range(n)], "age": rng.integers(18, 80, n),
                 "plan": plan})  # fmt: skip
    code, text, err = infer(tmp_path, capsys, "plans.csv", data, "--target", "plan")
    assert code == 0, err
    contract = parse_contract(text)
    assert contract.target.kind == "multiclass" and "rare_classes" not in text
    column = contract.columns["plan"]
    assert sorted(column.categories) == ["Basic", "Plus", "Premium"] and column.ignore_case
    resolved = resolve_target(contract, [p for p in plan])
    assert not resolved.errors and sum(resolved.classes.values()) == n


def test_a_numbered_target_is_classes_and_a_count_with_many_values_a_regression(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 200
    grade = rng.integers(1, 6, n)  # risk grades 1-5
    data = _csv({"id": [f"c{i}" for i in range(n)], "income": rng.normal(50, 10, n).round(2),
                 "grade": grade, "visits": rng.integers(0, 40, n)})  # fmt: skip
    code, text, err = infer(tmp_path, capsys, "grades.csv", data, "--target", "grade")
    assert code == 0, err
    contract = parse_contract(text)
    assert contract.target.kind == "multiclass"
    assert contract.columns["grade"].type.value == "int"
    assert "write kind: regression" in text  # the other reading is named for review
    resolved = resolve_target(contract, grade.tolist())
    assert list(resolved.classes) == ["1", "2", "3", "4", "5"] and not resolved.errors

    code, text, err = infer(tmp_path, capsys, "grades.csv", data, "--target", "visits")
    assert code == 0, err
    assert parse_contract(text).target.kind == "regression"
    assert "if they are classes, write kind: multiclass" in text


def test_a_text_target_of_too_many_values_is_refused_with_what_was_seen(tmp_path, capsys):
    n = 600
    data = _csv({"id": [f"t{i}" for i in range(n)], "x": list(range(n)),
                 "city": [f"city_{i % 60:02d}" for i in range(n)]})  # fmt: skip
    code, _, err = infer(tmp_path, capsys, "cities.csv", data, "--target", "city")
    assert code == 1
    assert "'city' has 60 distinct values" in err and "a multiclass one 3 to 50" in err
    assert "'city_00' 10" in err


def test_too_few_classes_with_enough_rows_is_refused_rather_than_merged_away(tmp_path, capsys):
    """Merging two rare classes into ``other`` beside one real class would leave two classes:
    the draft refuses and says how many rows each class has."""
    labels = ["gold"] * 40 + ["silver"] * 8 + ["bronze"] * 6
    data = _csv({"id": [f"m{i}" for i in range(len(labels))], "x": range(len(labels)),
                 "medal": labels})  # fmt: skip
    code, _, err = infer(tmp_path, capsys, "medals.csv", data, "--target", "medal")
    assert code == 1
    assert "target 'medal' has 3 distinct values, 1 of them with at least 20 rows" in err
    assert "'gold' 40" in err and "'silver' 8" in err and "'bronze' 6" in err
