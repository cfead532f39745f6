"""A messy export of a dataset the code has never seen, with only a contract: money strings,
percents, two date formats, renamed headers, PII, per-customer history; time-based split."""

import json

import numpy as np
import pandas as pd
import pytest

from tabflow.adapters.memory import (
    MemoryMailer,
    MemoryRegistry,
    MemoryStore,
    MemoryTables,
    MemoryWorkflow,
)
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.serving.cache import ChampionCache
from tabflow.serving.predictor import Predictor
from tabflow.workflow.evaluate import evaluate
from tabflow.workflow.payloads import RunState
from tabflow.workflow.promote import promote
from tabflow.workflow.train import train
from tests.conftest import ROOT
from tests.unit.test_feature_engineering import orders_frame


def messy_csv(frame: pd.DataFrame) -> bytes:
    out = pd.DataFrame(
        {
            "Order #": frame["order_id"],
            "customer": frame["customer"],
            "ordered_at": [
                t.strftime("%d/%m/%Y %H:%M") if i % 2 else t.strftime("%Y-%m-%d %H:%M")
                for i, t in enumerate(frame["ordered_at"])
            ],
            "Amount ($)": [f"${v:,.2f}" for v in frame["amount"]],
            "discount": [f"{v * 100:g}%" for v in frame["discount"]],
            "qty": frame["qty"],
            "channel": frame["channel"],
            "email": [f"person{i}@example.com" for i in range(len(frame))],
            "returned": frame["returned"],
        }
    )
    return out.to_csv(index=False).encode()


@pytest.fixture(scope="module")
def run():
    store, registry, workflow = MemoryStore(), MemoryRegistry(), MemoryWorkflow()
    tables = MemoryTables(store)
    store.put(
        "s3://raw/contracts/orders.yaml", (ROOT / "tests" / "data" / "orders.yaml").read_bytes()
    )
    frame = orders_frame(1500, seed=7)
    data = messy_csv(frame)
    store.put("s3://raw/incoming/orders/export.csv", data)
    outcome = ingest_object(
        key="incoming/orders/export.csv",
        etag="x",
        size=len(data),
        config=IngestConfig("raw", "lake", ["t@x.com"], 1 << 30),
        store=store,
        tables=tables,
        workflow=workflow,
        mailer=MemoryMailer(),
        pii_salt=lambda: "pepper",
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
    state["promotion"] = promote(
        state, store=store, registry=registry, model_bucket="models", code_version="t"
    ).dump()
    return frame, outcome, RunState.of(state), store, registry, tables


def test_the_messy_export_is_curated_to_the_clean_values(run):
    frame, outcome, state, store, _, tables = run
    assert outcome.counts == {"rows_in": 1500, "curated": 1500, "quarantined": 0, "duplicates": 0}
    curated = tables.read_parquet(state.curated_uri).set_index("order_id").loc[frame["order_id"]]
    np.testing.assert_allclose(curated["amount"], frame["amount"])
    np.testing.assert_allclose(curated["discount"], frame["discount"])
    assert (curated["ordered_at"].to_numpy() == frame["ordered_at"].to_numpy()).all()
    assert not curated["email"].str.contains("@").any()  # hashed


def test_a_timestamped_dataset_is_split_in_time_and_trains(run):
    frame, _, state, store, registry, tables = run
    assert state.train.split == "time"
    curated = tables.read_parquet(state.curated_uri)
    test_rows = json.loads(store.get(state.train.split_uri))["test_rows"]
    test_times = curated["ordered_at"].iloc[test_rows]
    train_times = curated["ordered_at"].drop(index=test_rows)
    assert train_times.max() <= test_times.min()  # train on the past, test on the future
    assert state.evaluation.metrics["auc"] > 0.7
    assert registry.champion("orders").version == 1


def test_the_api_scores_the_raw_fields_and_derives_the_rest(run):
    frame, _, _, store, registry, _ = run
    predictor = Predictor(
        ChampionCache(registry, store, ttl=60), store, lake_bucket="lake", max_records=10
    )
    record = {
        "ordered_at": "2024-04-02T18:30:00Z",
        "customer": "c3",
        "amount": 250.0,
        "discount": "5%",
        "qty": 2,
        "channel": "web",
    }
    answer = predictor.predict("orders", [record], "r1")
    assert 0 <= answer["predictions"][0]["score"] <= 1
    from tabflow.errors import BadRequest

    with pytest.raises(BadRequest) as err:
        predictor.predict("orders", [dict(record, ordered_at="tomorrow")], "r2")
    assert err.value.errors[0]["field"] == "ordered_at"
