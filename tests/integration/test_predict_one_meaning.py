"""The API reads a record as ingest read the training file, through the predict handler
under moto with a promoted Telco champion: a client that sends the export's own spellings
(headers, "Yes"/"no"/"1", "$95.50", "NA") gets the score of the clean record, and a value
ingest would quarantine is a 422 that names the record, the field and the same reason."""

import json

import pytest

from tests.integration.conftest import Context, api_event
from tests.integration.model_runs import fit_runs
from tests.integration.test_corrupted_champion import DATASET, World
from tests.integration.test_handlers import TELCO_RECORD

# The same customer as TELCO_RECORD, spelled as a messy export spells it.
MESSY_RECORD = {
    "FEMALE": "yes",
    "SeniorCitizen": "No",
    "Partner": "Y",
    "DEPENDENTS": 0,
    "tenure": "2",
    "Phone Service": "TRUE",
    "multiple-lines": " No ",
    "InternetService": "Fiber optic",
    "online_security": "No",
    "online_backup": "No",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "Yes",
    "streaming_movies": "Yes",
    "Contract": "Month-to-month",
    "paperless_billing": "1",
    "payment_method": "Electronic check",
    "Monthly Charges": "95.50",
    "TotalCharges": "190",
    "Exported By": "crm-export-v2",  # an extra export column: ignored
}


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(1, telco_csv, telco_contract_text)  # LightGBM wins


@pytest.fixture
def w(aws, load_handler, fits):
    world = World(aws, load_handler, fits)
    world.promote("lightgbm")
    yield world
    world.close()


def predict(w: World, handler, body) -> tuple[int, dict]:
    resp = handler.lambda_handler(
        api_event(
            "POST",
            f"/v1/datasets/{DATASET}/predict",
            "/v1/datasets/{dataset}/predict",
            {"dataset": DATASET},
            json.dumps(body),
        ),
        Context(),
    )
    return resp["statusCode"], json.loads(resp["body"])


def test_a_record_spelled_as_the_export_spells_it_scores_like_the_clean_one(w):
    handler = w.cold_start()
    status, clean = predict(w, handler, TELCO_RECORD)
    assert status == 200, clean
    messy = MESSY_RECORD
    status, answer = predict(w, handler, messy)
    assert status == 200, answer
    assert answer["predictions"][0]["score"] == clean["predictions"][0]["score"]
    assert answer["predictions"][0]["top_features"] == clean["predictions"][0]["top_features"]
    # missing markers mean missing, as in a file: "NA" for a nullable field is accepted
    status, answer = predict(w, handler, dict(messy, TotalCharges="NA"))
    assert status == 200, answer


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"tenure": 1.5}, "tenure", "not a whole number"),
        ({"tenure": "1.5"}, "tenure", "not a whole number"),
        ({"tenure": True}, "tenure", "not a number (int)"),
        ({"tenure": -1}, "tenure", "below minimum 0"),
        ({"female": "maybe"}, "female", "not a boolean"),
        ({"female": 2}, "female", "not a boolean"),
        ({"contract": "Monthly"}, "contract", "not one of the allowed categories"),
        ({"monthly_charges": "abc"}, "monthly_charges", "not a number (float)"),
        ({"Monthly Charges": 12.0}, "monthly_charges", "both name field 'monthly_charges'"),
    ],
)
def test_a_value_ingest_would_quarantine_is_a_422_with_the_same_reason(w, change, field, reason):
    handler = w.cold_start()
    records = [TELCO_RECORD, TELCO_RECORD, dict(TELCO_RECORD, **change)]
    status, answer = predict(w, handler, {"records": records})
    assert status == 422, answer
    (error,) = answer["errors"]
    assert (error["record"], error["field"]) == (2, field), answer
    assert reason in error["problem"], answer


def test_a_missing_required_field_and_a_non_object_are_named(w):
    handler = w.cold_start()
    short = {k: v for k, v in TELCO_RECORD.items() if k != "tenure"}
    status, answer = predict(w, handler, {"records": [short, "not a record"]})
    assert status == 422, answer
    assert [(e["record"], e["field"], e["problem"]) for e in answer["errors"]] == [
        (0, "tenure", "missing field"),
        (1, None, "a record must be a JSON object"),
    ]
