"""Labels cannot be silently wrong: targets.resolve_target (what `contract check --sample`
and Prepare call) and the labels training reads (training.target_vector)."""

import numpy as np
import pandas as pd
import pytest

from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.targets import label_vector, opposite_spelling, resolve_target
from tabflow.training import build_feature_spec, target_vector
from tabflow.validation import validate

SPELLED = ["Yes", "yes", "Y", "TRUE", "No", "no", "N", "FALSE"]
COUNTS = [30, 25, 20, 25, 100, 90, 60, 50]  # 100 positives, 300 negatives
VALUES = [v for v, n in zip(SPELLED, COUNTS, strict=True) for _ in range(n)]


def contract(target_column: str, positive: str = "Yes", kind: str = "binary"):
    label = f', positive_label: "{positive}"' if kind == "binary" else ", kind: regression"
    return parse_contract(f"""
dataset: t
target: {{column: churn{label}}}
columns:
  churn: {target_column}
  x: {{type: float}}
""")


@pytest.mark.parametrize("positive", ["Yes", "yes", "Y", "true", "TRUE", "1", "t"])
@pytest.mark.parametrize(
    "column",
    [
        "{type: bool}",
        '{type: category, categories: ["Yes", "No"]}',  # a yes/no pair takes every spelling
        "{type: category, unseen: keep}",  # undeclared: the 8 spellings fold into two
        "{type: category, ignore_case: true}",
    ],
)
def test_boolean_spellings_resolve_to_two_classes_whatever_the_positive_spelling(column, positive):
    resolution = resolve_target(contract(column, positive), VALUES)
    assert resolution.errors == []
    assert resolution.positives == 100 and int((resolution.y == 0).sum()) == 300
    assert list(resolution.classes.values()) == [100, 300]
    assert resolution.spellings == dict(
        sorted(zip(SPELLED, COUNTS, strict=True), key=lambda kv: -kv[1])
    )


def test_the_served_labels_are_spelled_like_the_positive_label():
    assert resolve_target(contract("{type: bool}", "Yes"), VALUES).classes == {
        "Yes": 100,
        "No": 300,
    }
    assert [opposite_spelling(s) for s in ["Yes", "TRUE", "y", "1", "Churned"]] == [
        "No",
        "FALSE",
        "n",
        "0",
        None,
    ]


def test_three_classes_are_refused_with_every_observed_value_and_its_count():
    resolution = resolve_target(
        contract("{type: category, unseen: keep}"), VALUES + ["Maybe"] * 7 + ["NA"] * 3
    )
    assert resolution.errors == [
        "target 'churn' resolves to 3 class(es) after normalisation; a binary target needs "
        "exactly 2 (for 3 to 50 classes write target.kind: multiclass)"
    ]
    message = resolution.message()
    for value, n in [("No", 100), ("yes", 25), ("Maybe", 7)]:
        assert f"{value!r} {n}" in message
    assert "missing: 3" in message


def test_a_positive_label_that_matches_no_row_is_refused():
    values = ["churned"] * 5 + ["stayed"] * 9
    resolution = resolve_target(contract("{type: category, unseen: keep}", "yes"), values)
    assert resolution.errors == ["positive_label 'yes' matches no row of target 'churn'"]
    assert "'stayed' 9, 'churned' 5" in resolution.message()
    mixed = resolve_target(contract("{type: category, unseen: keep}"), ["Yes", "y", "Maybe"])
    assert mixed.errors == [
        "target 'churn' mixes boolean spellings with other values ['Maybe']; a binary target "
        "needs exactly 2 classes"
    ]
    one_class = resolve_target(contract("{type: bool}"), ["No", "no", "N"])
    assert one_class.errors and "resolves to 1 class(es)" in one_class.errors[0]


def test_curated_values_resolve_like_the_file_text():
    """Prepare reads the curated (typed) column: True/False for a bool target."""
    c = contract("{type: bool}", "y")
    data = "churn,x\n" + "\n".join(f"{v},{i}" for i, v in enumerate(VALUES))
    result = validate(read_table(data.encode(), name="f.csv"), c, file="f.csv")
    curated = resolve_target(c, result.curated["churn"].tolist())
    assert curated.errors == [] and curated.positives == 100
    assert np.array_equal(curated.y, resolve_target(c, VALUES).y)


def test_training_reads_the_positive_label_after_the_same_normalisation():
    """Before: `astype(str) == "Yes"` on a bool target matched no row (a single class)."""
    c = contract("{type: bool}", "Yes")
    frame = pd.DataFrame(
        {"churn": pd.array([v.lower() in ("yes", "y", "true") for v in VALUES], "boolean"),
         "x": np.ones(len(VALUES))}
    )  # fmt: skip
    spec = build_feature_spec(c, frame)
    assert (spec.positive_label, spec.negative_label) == ("Yes", "No")
    assert int(target_vector(spec, frame).sum()) == 100
    # a category target keeping the 8 spellings as they came still has 100 positives
    assert int(label_vector(VALUES, "yes").sum()) == 100
    assert int(label_vector(["Yes", "No", "Maybe"], "Maybe").sum()) == 1


def test_a_regression_target_gives_numbers_and_counts_the_rest():
    c = contract("{type: money}", kind="regression")
    resolution = resolve_target(c, ["$10.50", "12", "NA", "n/a", "abc"])
    assert resolution.errors == []
    assert resolution.y[:2].tolist() == [10.5, 12.0] and np.isnan(resolution.y[2:]).all()
    assert resolution.missing == 2 and resolution.invalid == {"abc: not a number (money)": 1}
    assert resolution.summary() == "2 numbers from 10.5 to 12"
