import pytest

from tabflow.contract import ColumnType, parse_contract
from tabflow.errors import ContractError

MINIMAL = """
dataset: demo
target: {column: y, positive_label: "1"}
columns:
  y: {type: category, categories: ["0", "1"]}
  x: {type: float}
"""


def test_telco_contract_parses_and_lists_model_features(telco_contract_text):
    contract = parse_contract(telco_contract_text)
    assert contract.target.column == "churn"
    assert contract.columns["tenure"].type == ColumnType.INT
    features = contract.feature_columns
    assert "churn" not in features and "customer_id" not in features
    assert "tenure" in features and "contract" in features


def test_fingerprint_changes_with_the_contract():
    a = parse_contract(MINIMAL)
    b = parse_contract(MINIMAL.replace("type: float", "type: int"))
    assert a.fingerprint() == parse_contract(MINIMAL).fingerprint()
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("column: y", "column: z"), "target column 'z' is not declared"),
        (MINIMAL.replace("type: float", "type: decimal"), "columns.x.type"),
        (MINIMAL.replace('positive_label: "1"', 'positive_label: "2"'), "positive_label '2'"),
        (
            MINIMAL.replace('type: category, categories: ["0", "1"]', "type: bool").replace(
                'positive_label: "1"', 'positive_label: "Churned"'
            ),
            "positive_label 'Churned' is not a boolean spelling",
        ),
        (
            MINIMAL + "  monthly_charges: {type: float}\n  Monthly Charges: {type: float}\n",
            "match the same header spelling 'monthlycharges'",
        ),
        (MINIMAL + "  w: {type: float, ignore_case: true}\n", "ignore_case is only allowed"),
        (MINIMAL + "  w: {type: int, min: 5, max: 1}\n", "min 5.0 is above max 1.0"),
        (MINIMAL + "surprise: 1\n", "surprise"),
        ("- just\n- a list\n", "expected a mapping"),
        ("dataset: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_contracts_are_rejected_with_the_field_named(text, expected):
    with pytest.raises(ContractError) as err:
        parse_contract(text, source="contracts/demo.yaml")
    assert expected in str(err.value)
    assert "contracts/demo.yaml" in str(err.value)


@pytest.mark.parametrize("spelling", ["Yes", "yes", "Y", "true", "TRUE", "1", "t"])
def test_a_positive_label_is_typed_like_the_target_values(spelling):
    """A bool target takes any true spelling; a yes/no (or 0/1) category target takes any
    spelling of its positive side: "yes" on a ["0", "1"] target means "1"."""
    as_bool = MINIMAL.replace('categories: ["0", "1"]', "").replace("category,", "bool")
    for text in (as_bool, MINIMAL):
        contract = parse_contract(
            text.replace('positive_label: "1"', f'positive_label: "{spelling}"')
        )
        assert contract.target.positive_label == spelling
