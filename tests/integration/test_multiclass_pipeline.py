"""Multiclass on real data (issue 15): which room type a hotel booking reserves, from the
hotel rates export (datasets/hotel_rooms.yaml). The export dropped into the raw bucket under
moto runs through the deployed training state machine (each task its real handler); the API
Lambda answers each record with every class's probability, the predicted class and the top
features of that class.

Room type "b" has 2 rows in the whole export, too few to learn even merged into "other": the
contract leaves it out of the categories, so ingest quarantines those 2 rows with the reason.
The model is tested on the latest 20% of arrivals (time split)."""

import io
import json

import boto3
import numpy as np
import pandas as pd
import pytest

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.features import FeatureSpec
from tabflow.models.base import load_stored
from tabflow.models.lightgbm import lightgbm_dataset
from tabflow.training import frame_columns, target_vector
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.test_faults import state_machine  # noqa: F401 (a fixture)
from tests.integration.test_handlers import executions, put
from tests.integration.test_regression_intervals import DATA, _finish, _get, _mail

REGION = "us-east-1"
ROWS = 5000  # the first bookings of the export, plus every booking of the rare room type "b"


def export() -> bytes:
    lines = DATA.read_text().splitlines()
    head, body = lines[0], lines[1 : ROWS + 1]
    column = head.split(",").index("reserved_room_type")
    rare = [line for line in lines[ROWS + 1 :] if line.split(",")[column] == "b"]
    assert len(rare) == 2
    return ("\n".join([head, *body, *rare]) + "\n").encode()


def test_hotel_room_types_train_gate_promote_and_the_api_serves_class_probabilities(
    aws, load_handler, request
):
    if not DATA.exists():
        pytest.skip("shared/data/hotel_rates.csv is not present")
    contract = (ROOT / "datasets" / "hotel_rooms.yaml").read_text()
    assert "\ntraining:\n" in contract
    contract = contract.replace("\ntraining:\n", "\ntraining:\n  tuning: {trials: 2, folds: 2}\n")
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(
        Bucket=aws.ref("RawBucket"), Key="contracts/hotel_rooms.yaml", Body=contract.encode()
    )
    load_handler("IngestFunction").lambda_handler(
        put(aws.ref("RawBucket"), "incoming/hotel_rooms/bookings.csv", export()), Context()
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    (execution,) = [e for e in executions(aws) if "hotel_rooms" in e.get("name", "") or True][-1:]
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert state["dataset"] == "hotel_rooms"
    assert state["counts"]["quarantined"] == 2 and state["counts"]["curated"] == ROWS
    run = request.getfixturevalue("state_machine")
    status, output, calls = run("Prepare", state)
    status, output = _finish(sfn, status, output)
    assert status == "SUCCEEDED", output
    assert output["evaluation"]["promote"] and output["promotion"]["version"] == 1, output

    evaluation = json.loads(_get(output["evaluation"]["evaluation_uri"]))
    store = S3Store()
    spec = FeatureSpec.from_json(store.get(output["train"]["spec_uri"]))
    assert spec.task == "multiclass"
    assert spec.classes == ("a", "c", "d", "e", "f", "g", "h") and spec.merged == ()
    winner = evaluation["chosen"]
    metrics = evaluation["candidates"][winner]
    figures = {
        "winner": winner,
        "macro_auc": metrics["auc"],
        "weighted_auc": metrics["weighted_auc"],
        "log_loss": metrics["log_loss"],
        "accuracy": metrics["accuracy"],
        "recall": {c: v["recall"] for c, v in metrics["per_class"].items()},
        "other": {n: m["auc"] for n, m in evaluation["candidates"].items() if n != winner},
    }
    gates = {g["name"]: g for g in evaluation["decision"]["gates"]}
    assert {"auc_floor", "beats_baseline", "calibration", "slice_parity:market_segment"} <= set(
        gates
    )
    assert (
        gates["auc_floor"]["interval"]["low"]
        < metrics["auc"]
        < gates["auc_floor"]["interval"]["high"]
    )
    counts = np.array(metrics["confusion_matrix"]["counts"])
    assert counts.sum() == evaluation["test_rows"] and metrics["confusion_matrix"][
        "labels"
    ] == list(spec.classes)

    # Within 0.02 of an untuned LightGBM multiclass (its own defaults: 100 rounds at 0.1) fitted
    # on the same training rows and scored on the same test rows.
    import lightgbm as lgb

    frame = pd.read_parquet(io.BytesIO(store.get(state["curated_uri"])))
    split = json.loads(store.get(output["train"]["split_uri"]))
    x = spec.matrix(frame_columns(spec, frame))
    y = target_vector(spec, frame)
    train_rows, test_rows = np.asarray(split["train_rows"]), np.asarray(split["test_rows"])
    untuned = lgb.train(
        {"objective": "multiclass", "num_class": len(spec.classes), "verbosity": -1, "seed": 1},
        lightgbm_dataset(spec, x[train_rows], y[train_rows]),
        num_boost_round=100,
    )
    figures["untuned_macro_auc"] = multiclass_metrics(
        y[test_rows], untuned.predict(x[test_rows]), spec.classes
    )["auc"]
    print(json.dumps(figures, indent=1))
    assert metrics["auc"] >= figures["untuned_macro_auc"] - 0.02, figures

    report = _get(output["evaluation"]["report_uri"]).decode()
    assert "Confusion matrix" in report or "confusion" in report.lower()
    promoted = [body for subject, body in _mail() if "promoted" in subject]
    assert promoted and "macro" in promoted[0].lower()

    # The API: the latest test rows, sent as a client sends them, get every class's
    # probability as the training side computes it (to 1e-9 after the API's rounding).
    champion = DynamoRegistry(aws.ref("RegistryTable")).champion("hotel_rooms")
    assert champion is not None and champion.kind == winner
    rows = frame.iloc[test_rows[-200:]].reset_index(drop=True)
    model = load_stored(store, champion.kind, champion.model_uri, champion.calibration_uri)
    offline = model.predict(spec.matrix(frame_columns(spec, rows)))
    records = json.loads(
        rows.drop(columns=["reserved_room_type", "assigned_room_type"]).to_json(
            orient="records", date_format="iso"
        )
    )
    response = load_handler("PredictFunction").lambda_handler(
        api_event(
            "POST",
            "/v1/datasets/hotel_rooms/predict",
            "/v1/datasets/{dataset}/predict",
            {"dataset": "hotel_rooms"},
            json.dumps({"records": records}),
        ),
        Context(),
    )
    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])["predictions"]
    served = np.array([[p["probabilities"][c] for c in spec.classes] for p in answer])
    np.testing.assert_allclose(served, np.round(offline, 6), rtol=0, atol=1e-9)
    assert np.allclose(served.sum(axis=1), 1.0, atol=1e-5)
    assert [p["label"] for p in answer] == [spec.classes[i] for i in offline.argmax(axis=1)]
    assert [p["score"] for p in answer] == list(np.round(offline.max(axis=1), 6))
    assert all(len(p["top_features"]) == 3 for p in answer)
    info = load_handler("PredictFunction").lambda_handler(
        api_event(
            "GET",
            "/v1/datasets/hotel_rooms/model",
            "/v1/datasets/{dataset}/model",
            {"dataset": "hotel_rooms"},
            None,
        ),
        Context(),
    )
    model_info = json.loads(info["body"])
    assert model_info["task"] == "multiclass" and model_info["classes"] == list(spec.classes)
    truth = rows["reserved_room_type"].astype(str).to_numpy()
    assert np.mean([p["label"] == t for p, t in zip(answer, truth, strict=True)]) > 0.5

    # A batch file of the same rows: the predicted class, its probability and one column per
    # class, equal to the API's answers; the captures carry the probabilities for the monitor.
    batch_file = rows.drop(columns=["reserved_room_type"]).to_csv(index=False).encode()
    (scored,) = load_handler("BatchFunction").lambda_handler(
        put(aws.ref("RawBucket"), "batch/hotel_rooms/week.csv", batch_file), Context()
    )["files"]
    assert scored["status"] == "scored", scored
    out = pd.read_csv(io.BytesIO(_get(scored["predictions_uri"])))
    assert out["label"].tolist() == [p["label"] for p in answer]
    np.testing.assert_allclose(
        out[[f"p_{c}" for c in spec.classes]].to_numpy(), served, rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(out["score"], [p["score"] for p in answer], rtol=0, atol=1e-9)
