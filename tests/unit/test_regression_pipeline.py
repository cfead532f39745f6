"""Any dataset, only a contract: hotel rates as a regression, split in time, against a
seasonal baseline, served by the same API code."""

import json

import numpy as np
import pytest

from tabflow.adapters.memory import (
    MemoryMailer,
    MemoryRegistry,
    MemoryStore,
    MemoryTables,
    MemoryWorkflow,
)
from tabflow.contract import Gates
from tabflow.features import FeatureSpec
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.models.base import load_stored, prediction_interval
from tabflow.regression_gates import coverage_gate
from tabflow.serving.cache import ChampionCache
from tabflow.serving.predictor import Predictor
from tabflow.training import frame_columns
from tabflow.workflow.evaluate import evaluate
from tabflow.workflow.payloads import RunState
from tabflow.workflow.promote import promote
from tabflow.workflow.train import train
from tests.conftest import DATASETS, ROOT

# the shared data beside the repository (or beside the worktrees' folder)
DATA = next(
    (
        p / "shared" / "data" / "hotel_rates.csv"
        for p in ROOT.parents[:2]
        if (p / "shared").exists()
    ),
    ROOT.parent / "shared" / "data" / "hotel_rates.csv",
)


@pytest.fixture(scope="module")
def run():
    if not DATA.exists():
        pytest.skip("shared/data/hotel_rates.csv is not present")
    store, registry, workflow = MemoryStore(), MemoryRegistry(), MemoryWorkflow()
    tables = MemoryTables(store)
    store.put("s3://raw/contracts/hotel_rates.yaml", (DATASETS / "hotel_rates.yaml").read_bytes())
    data = DATA.read_bytes()
    store.put("s3://raw/incoming/hotel_rates/bookings.csv", data)
    outcome = ingest_object(
        key="incoming/hotel_rates/bookings.csv",
        etag="h",
        size=len(data),
        config=IngestConfig("raw", "lake", ["t@x.com"], 1 << 30),
        store=store,
        tables=tables,
        workflow=workflow,
        mailer=MemoryMailer(),
    )
    state = dict(workflow.started[outcome.run_id])
    # the run state as the state machine holds it: each task's output as its JSON (dump())
    state["train"] = train(
        state, store=store, tables=tables, model_bucket="models", lake_bucket="lake"
    ).dump()
    evaluation = evaluate(
        state,
        store=store,
        tables=tables,
        lake_bucket="lake",
        model_bucket="models",
        registry=registry,
    )
    state["evaluation"] = evaluation.dump()
    if evaluation.promote:
        state["promotion"] = promote(
            state, store=store, registry=registry, model_bucket="models", code_version="t"
        ).dump()
    return outcome, RunState.of(state), store, registry


def test_hotel_rates_train_in_time_and_beat_the_seasonal_baseline(run):
    outcome, state, store, _ = run
    assert outcome.counts["curated"] == outcome.counts["rows_in"] == 15402
    assert state.train.split == "time"
    evaluation = json.loads(store.get(state.evaluation.evaluation_uri))
    metrics = evaluation["candidates"]
    print({name: {k: m[k] for k in ("rmse", "r2")} for name, m in metrics.items()})
    chosen = metrics[state.evaluation.winner]
    assert chosen["rmse"] < metrics["baseline"]["rmse"] and chosen["r2"] > 0.3
    assert metrics["baseline"]["name"] == "seasonal_mean"
    assert state.evaluation.promote and "beats_baseline" in [
        g["name"] for g in state.evaluation.gates
    ]


def test_the_api_returns_a_value_for_a_regression_model(run):
    _, state, store, registry = run
    predictor = Predictor(
        ChampionCache(registry, store, ttl=60), store, lake_bucket="lake", max_records=10
    )
    record = {
        "lead_time": 30,
        "stays_in_weekend_nights": 1,
        "stays_in_week_nights": 2,
        "adults": 2,
        "children": 0,
        "babies": 0,
        "meal": "bed_and_breakfast",
        "country": "prt",
        "market_segment": "online_travel_agent",
        "distribution_channel": "ta_to",
        "is_repeated_guest": False,
        "previous_cancellations": 0,
        "previous_bookings_not_canceled": 0,
        "reserved_room_type": "a",
        "assigned_room_type": "a",
        "booking_changes": 0,
        "days_in_waiting_list": 0,
        "customer_type": "transient",
        "required_car_parking_spaces": 0,
        "total_of_special_requests": 1,
        "arrival_date": "2017-08-15",
        "near_christmas": False,
        "near_new_years": False,
        "historical_adr": 120.0,
    }
    answer = predictor.predict("hotel_rates", [record], "r")
    prediction = answer["predictions"][0]
    assert prediction["label"] is None and 20 < prediction["score"] < 500
    low, high = prediction["interval"]
    assert low < prediction["score"] < high


def test_held_out_interval_coverage_is_within_two_points_of_the_declared_90_percent(run):
    """Split conformal on the validation rows (the latest 15% of the training period), judged
    on the test rows (the latest 20% of arrivals: the summer peak the calibration rows never
    saw); the figures are recorded in the evaluation document and its gates."""
    _, state, store, _ = run
    evaluation = json.loads(store.get(state.evaluation.evaluation_uri))
    chosen = evaluation["candidates"][evaluation["chosen"]]
    held = chosen["interval"]
    print({n: m.get("interval") for n, m in evaluation["candidates"].items()})
    assert held["declared"] == 0.9 and held["rows"] == evaluation["test_rows"]
    assert abs(held["coverage"] - 0.9) <= 0.02, held
    gate = next(g for g in evaluation["decision"]["gates"] if g["name"] == "interval_coverage")
    assert gate["passed"] and gate["value"] == held["coverage"] and gate["interval"]["low"] < 0.9
    assert state.evaluation.metrics["coverage"] == held["coverage"]
    # The ridge baseline's interval (auto: absolute on its validation rows) covers about two
    # thirds of the summer rows: on the same test rows its gate would fail.
    linear = evaluation["candidates"]["linear"]["interval"]
    assert linear["high"] < 0.88
    assert not coverage_gate("linear", linear, Gates(coverage_tolerance=0.02)).passed
    residuals = evaluation["residuals"]
    assert len(residuals["by_predicted"]) == 10 and "p50" in residuals["quantiles"]


def test_the_api_interval_equals_the_training_side_interval(run):
    """Parity: the held-out rows sent to the API get the interval Evaluate computed (the
    champion's stored calibration file: quantile, scale, coverage), to 1e-9 after the API's
    rounding to 6 decimals; binary answers carry no interval key."""
    _, state, store, registry = run
    champion = registry.champion("hotel_rates")
    curated = next(u for u in store.objects if "/curated/" in u)
    frame = MemoryTables(store).read_parquet(curated)
    split = json.loads(store.get(next(u for u in store.objects if u.endswith("/split.json"))))
    rows = frame.iloc[split["test_rows"][:500]].reset_index(drop=True)
    spec = FeatureSpec.from_json(store.get(champion.spec_uri))
    model = load_stored(store, champion.kind, champion.model_uri, champion.calibration_uri)
    offline = model.predict(spec.matrix(frame_columns(spec, rows)))
    low, high = prediction_interval(model).bounds(offline)
    predictor = Predictor(
        ChampionCache(registry, store, ttl=60), store, lake_bucket="lake", max_records=1000
    )
    records = json.loads(
        rows.drop(columns=["avg_price_per_room"]).to_json(orient="records", date_format="iso")
    )
    answer = predictor.predict("hotel_rates", {"records": records}, "parity")
    online = np.array([p["interval"] for p in answer["predictions"]])
    np.testing.assert_allclose(online[:, 0], np.round(low, 6), rtol=0, atol=1e-9)
    np.testing.assert_allclose(online[:, 1], np.round(high, 6), rtol=0, atol=1e-9)
    scores = np.array([p["score"] for p in answer["predictions"]])
    assert (online[:, 0] < scores).all() and (scores < online[:, 1]).all()


def test_a_batch_file_gets_the_apis_intervals(run):
    """Batch scoring of a dropped file writes the interval beside each score, as the API
    answers it for the same record."""
    import io

    import pandas as pd

    from tabflow.file_scoring import BatchConfig, score_object

    _, _, store, registry = run
    lines = DATA.read_bytes().splitlines()
    data = b"\n".join(lines[:1] + lines[-50:]) + b"\n"
    store.put("s3://raw/batch/hotel_rates/late.csv", data)
    out = score_object(
        key="batch/hotel_rates/late.csv",
        etag="b1",
        size=len(data),
        config=BatchConfig("raw", "lake", ["a@example.com"], 1 << 30),
        store=store,
        registry=registry,
        mailer=MemoryMailer(),
    )
    assert out["status"] == "scored", out
    predictions = pd.read_csv(io.BytesIO(store.get(out["predictions_uri"])))
    assert list(predictions.columns) == [
        "booking_id",
        "line",
        "score",
        "interval_low",
        "interval_high",
        "label",
        "model_version",
    ]
    curated = pd.read_csv(io.BytesIO(data)).drop(columns=["avg_price_per_room"])
    records = json.loads(curated.to_json(orient="records"))
    for r in records:
        for flag in ("is_repeated_guest", "near_christmas", "near_new_years"):
            r[flag] = bool(r[flag])
    predictor = Predictor(
        ChampionCache(registry, store, ttl=60), store, lake_bucket="lake", max_records=100
    )
    api = predictor.predict("hotel_rates", records, "batch-parity", explain=False)
    served = np.array([p["interval"] for p in api["predictions"]])
    np.testing.assert_allclose(predictions["interval_low"], served[:, 0], atol=1e-6)
    np.testing.assert_allclose(predictions["interval_high"], served[:, 1], atol=1e-6)
