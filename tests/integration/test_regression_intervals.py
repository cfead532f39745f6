"""Regression with intervals on real data (issue 15): the hotel rates export dropped into the
raw bucket under moto runs through the deployed training state machine (Prepare, the Tune
map, the Train branches, Select, Evaluate, Gate, Promote, Notify; each task its real handler),
and the API Lambda answers each record with its score and interval.

The contract (datasets/hotel_rates.yaml) declares 90% coverage and splits in time: the model
is tested on the latest 20% of arrivals (June to August 2017), a summer peak the calibration
rows (the latest 15% of the training period, April to early June) never saw."""

import io
import json
import time

import boto3
import numpy as np
import pandas as pd
import pytest

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.features import FeatureSpec
from tabflow.models.base import load_stored, prediction_interval
from tabflow.training import frame_columns
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.test_faults import state_machine  # noqa: F401 (a fixture)
from tests.integration.test_handlers import executions, put

REGION = "us-east-1"
DATA = next(
    (
        p / "shared" / "data" / "hotel_rates.csv"
        for p in ROOT.parents[:2]
        if (p / "shared").exists()
    ),
    ROOT.parent / "shared" / "data" / "hotel_rates.csv",
)


def _get(uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read()


def test_hotel_rates_intervals_hold_on_later_rows_and_the_api_serves_them(
    aws, load_handler, request
):
    if not DATA.exists():
        pytest.skip("shared/data/hotel_rates.csv is not present")
    data = DATA.read_bytes()
    # The repository's contract with a lighter tuning budget (one trial: the defaults, their
    # rounds cross-validated on the folds), so the whole workflow runs in about a minute.
    contract = (ROOT / "datasets" / "hotel_rates.yaml").read_text()
    assert "\ntraining:\n" in contract
    contract = contract.replace("\ntraining:\n", "\ntraining:\n  tuning: {trials: 1}\n")
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=aws.ref("RawBucket"), Key="contracts/hotel_rates.yaml", Body=contract.encode()
    )
    ingest = load_handler("IngestFunction")
    ingest.lambda_handler(
        put(aws.ref("RawBucket"), "incoming/hotel_rates/bookings.csv", data), Context()
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    (execution,) = executions(aws)
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    # the interpreter is switched on after the drop (Ingest starts the deployed machine, which
    # then only records the execution; the interpreter runs it again from Prepare)
    run = request.getfixturevalue("state_machine")
    status, output, calls = run("Prepare", state)
    status, output = _finish(sfn, status, output)
    assert status == "SUCCEEDED", output
    assert {"PrepareFunction", "TrialFunction", "TrainFunction", "EvaluateFunction"} <= set(calls)
    assert output["evaluation"]["promote"] and output["promotion"]["version"] == 1, output

    # The figures: coverage overall and by slice, errors, width (the evaluation document).
    evaluation = json.loads(_get(output["evaluation"]["evaluation_uri"]))
    winner = evaluation["chosen"]
    metrics = evaluation["candidates"][winner]
    held = metrics["interval"]
    figures = {
        "winner": winner,
        "rmse": metrics["rmse"],
        "mae": metrics["mae"],
        "r2": metrics["r2"],
        "interval": held,
        "by_slice": {
            column: {g: (v["rows"], v.get("coverage"), v["mae"]) for g, v in groups.items()}
            for column, groups in evaluation["slices"].items()
        },
        "other_candidates": {
            n: m.get("interval", {}).get("coverage")
            for n, m in evaluation["candidates"].items()
            if n != winner
        },
    }
    print(json.dumps(figures, indent=1))
    assert held["declared"] == 0.9 and held["rows"] == evaluation["test_rows"] > 3000
    assert abs(held["coverage"] - 0.9) <= 0.02, held
    gates = {g["name"]: g for g in evaluation["decision"]["gates"]}
    assert (
        gates["interval_coverage"]["passed"]
        and gates["interval_coverage"]["value"] == held["coverage"]
    )
    assert {"slice_parity:market_segment", "slice_parity:customer_type"} <= set(gates)
    assert evaluation["residuals"]["by_predicted"]
    report = _get(output["evaluation"]["report_uri"]).decode()
    assert "Prediction interval on the test rows" in report and "By slice" in report
    assert output["evaluation"]["metrics"]["coverage"] == held["coverage"]
    promoted = [body for subject, body in _mail() if "promoted" in subject]
    assert promoted and "declared_coverage" in promoted[0] and str(held["coverage"]) in promoted[0]

    # The API: the latest test rows, sent as a client sends them, get the training side's
    # interval (the champion's stored calibration file) to 1e-9 after the API's rounding.
    champion = DynamoRegistry(aws.ref("RegistryTable")).champion("hotel_rates")
    assert champion is not None and champion.kind == winner
    store = S3Store()
    split = json.loads(store.get(evaluation_split_uri(output)))
    frame = pd.read_parquet(io.BytesIO(store.get(state["curated_uri"])))
    rows = frame.iloc[split["test_rows"][-200:]].reset_index(drop=True)
    spec = FeatureSpec.from_json(store.get(champion.spec_uri))
    model = load_stored(store, champion.kind, champion.model_uri, champion.calibration_uri)
    offline = model.predict(spec.matrix(frame_columns(spec, rows)))
    low, high = prediction_interval(model).bounds(offline)
    records = json.loads(
        rows.drop(columns=["avg_price_per_room"]).to_json(orient="records", date_format="iso")
    )
    predict = load_handler("PredictFunction")
    response = predict.lambda_handler(
        api_event(
            "POST",
            "/v1/datasets/hotel_rates/predict",
            "/v1/datasets/{dataset}/predict",
            {"dataset": "hotel_rates"},
            json.dumps({"records": records}),
        ),
        Context(),
    )
    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])
    served = np.array([p["interval"] for p in answer["predictions"]])
    np.testing.assert_allclose(served[:, 0], np.round(low, 6), rtol=0, atol=1e-9)
    np.testing.assert_allclose(served[:, 1], np.round(high, 6), rtol=0, atol=1e-9)
    truth = rows["avg_price_per_room"].to_numpy(dtype=float)
    inside = float(np.mean((served[:, 0] <= truth) & (truth <= served[:, 1])))
    assert inside > 0.8, inside  # the API's intervals hold the true prices of these rows too


def _mail() -> list[tuple[str, str]]:
    """(subject, body) of every email SES sent (moto keeps the HTML part)."""
    import email
    import email.policy

    from tests.integration.test_handlers import sent_mail

    out = []
    for m in sent_mail():
        msg = email.message_from_string(m.raw_data, policy=email.policy.default)
        part = msg.get_body(("plain", "html"))
        out.append((str(msg["Subject"]), part.get_content() if part else ""))
    return out


def _finish(sfn, status: str, output: dict, seconds: float = 900) -> tuple[str, dict]:
    """The fixture waits 120 s; a slow machine may need longer to finish the run."""
    if status != "RUNNING":
        return status, output
    (machine,) = [
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].startswith("from-Prepare-")
    ]
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=execution["executionArn"])
        if desc["status"] != "RUNNING":
            return desc["status"], json.loads(desc.get("output") or "{}")
        time.sleep(0.5)
    return "RUNNING", {}


def evaluation_split_uri(output: dict) -> str:
    return output["train"]["split_uri"]
