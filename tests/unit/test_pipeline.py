"""The whole pipeline on in-memory adapters: ingest -> train -> evaluate -> promote -> serve
-> monitor, on the real Telco churn file."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tabflow.adapters.memory import (
    MemoryMailer,
    MemoryRegistry,
    MemoryStore,
    MemoryTables,
    MemoryWorkflow,
)
from tabflow.contract import parse_contract
from tabflow.errors import BadRequest, ConcurrentUpdate, ModelNotFound
from tabflow.features import FeatureSpec
from tabflow.ingestion import IngestConfig, ingest_object
from tabflow.models.base import load_stored
from tabflow.monitoring.check import check_dataset
from tabflow.monitoring.context import MonitorContext
from tabflow.quarantine import read_quarantine
from tabflow.serving.cache import ChampionCache
from tabflow.serving.predictor import Predictor
from tabflow.training import frame_columns
from tabflow.tuning import select_trial
from tabflow.workflow.common import collect_results
from tabflow.workflow.evaluate import evaluate
from tabflow.workflow.notify import notify
from tabflow.workflow.payloads import RunState
from tabflow.workflow.prepare import choose_engine, prepare
from tabflow.workflow.promote import promote
from tabflow.workflow.train import train
from tabflow.workflow.trial import trial

CONFIG = IngestConfig("raw", "lake", ["team@example.com"], 10**9)


class World:
    def __init__(self, contract_text: str):
        self.store = MemoryStore()
        self.tables = MemoryTables(self.store)
        self.workflow = MemoryWorkflow()
        self.mailer = MemoryMailer()
        self.registry = MemoryRegistry()
        self.store.put("s3://raw/contracts/telco_churn.yaml", contract_text.encode())

    def ingest(self, data: bytes, key: str = "incoming/telco_churn/export.csv", etag: str = "e1"):
        self.store.put(f"s3://raw/{key}", data)
        return ingest_object(
            key=key,
            etag=etag,
            size=len(data),
            config=CONFIG,
            store=self.store,
            tables=self.tables,
            workflow=self.workflow,
            mailer=self.mailer,
        )

    def run_training(self, state) -> RunState:
        """What the state machine does: prepare, the trials (a Map), train, evaluate, promote,
        each task's output put in the run state as the JSON on the wire (its dump())."""
        state = dict(state)
        prepared = prepare(state, store=self.store, tables=self.tables, lake_bucket="lake")
        state["prepare"] = prepared.dump()
        state["trials"] = [
            trial(
                {**state, "trial": t.dump(), "split_uri": prepared.split_uri},
                store=self.store,
                tables=self.tables,
            ).dump()
            for t in prepared.trials
        ]
        state["train"] = train(
            state, store=self.store, tables=self.tables, model_bucket="models", lake_bucket="lake"
        ).dump()
        evaluation = evaluate(
            state,
            store=self.store,
            tables=self.tables,
            lake_bucket="lake",
            model_bucket="models",
            registry=self.registry,
        )
        state["evaluation"] = evaluation.dump()
        if evaluation.promote:
            state["promotion"] = promote(
                state,
                store=self.store,
                registry=self.registry,
                model_bucket="models",
                code_version="test",
            ).dump()
        return RunState.of(state)


@pytest.fixture(scope="module")
def trained(telco_csv, telco_contract_text):
    world = World(telco_contract_text)
    outcome = world.ingest(telco_csv)
    state = world.run_training(world.workflow.started[outcome.run_id])
    return world, state


def test_ingest_accepts_the_file_and_starts_one_run(telco_csv, telco_contract_text):
    world = World(telco_contract_text)
    first = world.ingest(telco_csv)
    again = world.ingest(telco_csv)  # the same S3 event delivered twice
    assert first.status == "accepted" and first.run_id == again.run_id
    assert len(world.workflow.started) == 1
    assert first.counts["rows_in"] == first.counts["curated"] == 7043
    report = json.loads(world.store.get(first.report_uri))
    assert report["status"] == "accepted" and report["sha256"]
    assert world.store.get("s3://raw/incoming/telco_churn/export.csv") == telco_csv  # raw untouched


def test_a_file_missing_a_required_column_is_rejected_with_report_and_email(
    telco_csv, telco_contract_text
):
    world = World(telco_contract_text)
    lines = telco_csv.decode().splitlines()
    header = lines[0].split(",")
    drop = header.index("tenure")
    broken = "\n".join(
        ",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines[:50]
    )
    outcome = world.ingest(broken.encode(), key="incoming/telco_churn/no_tenure.csv")
    assert outcome.status == "rejected" and not world.workflow.started
    report = json.loads(world.store.get(outcome.report_uri))
    assert report["problems"] == ["missing required column 'tenure'"]
    ((email, to),) = world.mailer.sent
    assert "tenure" in email.subject and to == ["team@example.com"]
    assert not [u for u in world.store.objects if "/curated/" in u]  # no partial output


def test_too_many_bad_rows_reject_the_whole_file(telco_contract_text):
    world = World(telco_contract_text)
    header = "customer_id,churn,female,senior_citizen,partner,dependents,tenure,phone_service,multiple_lines,internet_service,online_security,online_backup,device_protection,tech_support,streaming_tv,streaming_movies,contract,paperless_billing,payment_method,monthly_charges,total_charges"
    good = "C1,No,1,0,1,0,1,0,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,1,Electronic check,29.85,29.85"
    bad = "C2,No,1,0,1,0,lots,0,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,1,Electronic check,29.85,29.85"
    outcome = world.ingest("\n".join([header, good, bad, bad]).encode())
    assert outcome.status == "rejected" and "above the contract's limit" in outcome.problems[0]
    assert outcome.counts == {"rows_in": 3, "curated": 1, "quarantined": 2, "duplicates": 0}
    quarantine = world.store.get(json.loads(world.store.get(outcome.report_uri))["quarantine_uri"])
    rows = list(read_quarantine(quarantine))
    assert [r["line"] for r in rows] == [3, 4] and rows[0]["problems"][0]["column"] == "tenure"


def test_a_dataset_without_contract_is_rejected_by_name(telco_csv, telco_contract_text):
    world = World(telco_contract_text)
    outcome = world.ingest(telco_csv, key="incoming/unknown_set/x.csv")
    assert (
        outcome.status == "rejected"
        and "no contract for dataset 'unknown_set'" in outcome.problems[0]
    )


def test_training_promotes_a_model_that_meets_the_auc_goal(trained):
    world, state = trained
    assert state.evaluation is not None and state.promotion is not None
    metrics = state.evaluation.all_metrics
    assert max(m["auc"] for m in metrics.values()) >= 0.84
    assert state.promotion.version == 1
    champion = world.registry.champion("telco_churn")
    assert champion.version == 1 and champion.kind == state.evaluation.winner
    meta = json.loads(world.store.get(champion.metadata_uri))
    assert meta["lineage"]["source_sha256"] and meta["lineage"]["contract_sha256"]
    assert world.store.get(champion.model_uri).startswith(b"tree") or champion.kind == "linear"


def test_the_champion_pointer_moves_only_by_conditional_write(trained):
    world, _ = trained
    with pytest.raises(ConcurrentUpdate):
        world.registry.set_champion("telco_churn", 7, expected=None)


def test_notifications_name_what_happened(trained):
    world, state = trained
    out = notify(
        {"kind": "promoted", "run": state.dump()},
        store=world.store,
        mailer=world.mailer,
        recipients=["a@example.com"],
    )
    assert "model v1" in out.subject and "promoted" in out.subject
    failed = dict(
        state.dump(),
        failed_step="Train",
        error={"Error": "ValueError", "Cause": json.dumps({"errorMessage": "boom"})},
    )
    out = notify(
        {"kind": "failed", "run": failed},
        store=world.store,
        mailer=world.mailer,
        recipients=["a@example.com"],
    )
    assert "failed at Train" in out.subject and "boom" in world.mailer.sent[-1][0].text


def test_emails_say_what_serves(trained):
    """The first champion says so; a rejection with no champion says no model serves (not
    that "the current champion keeps serving"), and one with a champion names it."""
    world, state = trained
    wire = state.dump()
    notify({"kind": "promoted", "run": wire}, store=world.store, mailer=world.mailer, recipients=[])
    assert "is its first champion" in world.mailer.sent[-1][0].text
    assert state.evaluation is not None
    assert state.evaluation.champion_version is None  # none when this run was evaluated
    for serving, expected in ((None, "there is no champion yet"), (1, "champion v1 keeps serving")):
        run = dict(wire, evaluation=dict(wire["evaluation"], champion_version=serving))
        notify(
            {"kind": "rejected", "run": run}, store=world.store, mailer=world.mailer, recipients=[]
        )
        text = world.mailer.sent[-1][0].text
        assert expected in text and ("keeps serving" in text) == bool(serving)


def test_tuned_lightgbm_is_not_worse_than_untuned_lightgbm_on_the_same_rows(trained):
    """Issue 11: tuning must never lose to LightGBM's own defaults (100 rounds) trained on the
    same training rows and scored on the same held-out rows."""
    import lightgbm as lgb

    from tabflow.evaluation.metrics import roc_auc
    from tabflow.training import target_vector

    world, state = trained
    assert state.train is not None
    candidate = state.train.candidates["lightgbm"]
    split = json.loads(world.store.get(state.train.split_uri))
    spec = FeatureSpec.from_json(world.store.get(state.train.spec_uri))
    frame = world.tables.read_parquet(state.curated_uri)
    x, y = spec.matrix(frame_columns(spec, frame)), target_vector(spec, frame)
    train, test = np.asarray(split["train_rows"]), np.asarray(split["test_rows"])
    tuned = load_stored(world.store, "lightgbm", candidate.model_uri, None).predict(x[test])
    untuned = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 2, "seed": 42},
        lgb.Dataset(x[train], y[train], categorical_feature=spec.categorical_indices),
        num_boost_round=100,
    ).predict(x[test])
    tuned_auc, untuned_auc = roc_auc(y[test], tuned), roc_auc(y[test], untuned)
    print(f"telco held-out AUC: tuned {tuned_auc:.4f}, untuned LightGBM {untuned_auc:.4f}")
    assert tuned_auc >= untuned_auc - 0.005
    assert (
        state.train.tuning and state.train.tuning["selection"]
    )  # the run says which trial won and why


def _predictor(world, max_records=1000):
    return Predictor(
        ChampionCache(world.registry, world.store, ttl=60),
        world.store,
        lake_bucket="lake",
        max_records=max_records,
    )


def _records(world, n):
    """The first ``n`` held-out rows, as curated."""
    champion = world.registry.champion("telco_churn")
    curated = world.tables.read_parquet(next(u for u in world.store.objects if "/curated/" in u))
    split = json.loads(
        world.store.get(next(u for u in world.store.objects if u.endswith("/split.json")))
    )
    return champion, curated.iloc[split["test_rows"][:n]].reset_index(drop=True)


def test_api_scores_equal_offline_scores_for_the_same_rows(trained):
    world, _ = trained
    champion, rows = _records(world, 1000)
    predictor = _predictor(world)
    records = json.loads(rows.to_json(orient="records"))
    answer = predictor.predict("telco_churn", {"records": records}, "req-1")
    spec = FeatureSpec.from_json(world.store.get(champion.spec_uri))
    model = load_stored(world.store, champion.kind, champion.model_uri, champion.calibration_uri)
    offline = model.predict(spec.matrix(frame_columns(spec, rows)))
    online = np.array([p["score"] for p in answer["predictions"]])
    np.testing.assert_allclose(online, np.round(offline, 6), atol=1e-9)
    assert answer["model_version"] == 1 and len(answer["predictions"][0]["top_features"]) == 3
    # a binary answer is as it was: no regression interval
    assert set(answer["predictions"][0]) == {"score", "label", "top_features"}


@pytest.mark.parametrize(
    ("mutate", "field", "status"),
    [
        (lambda r: r.pop("tenure"), "tenure", 422),
        (lambda r: r.update(tenure="twelve"), "tenure", 422),
        (lambda r: r.update(tenure=-4), "tenure", 422),
        (lambda r: r.update(contract="Weekly"), "contract", 422),
    ],
)
def test_bad_records_get_a_4xx_naming_the_field(trained, mutate, field, status):
    world, _ = trained
    _, rows = _records(world, 1)
    record = json.loads(rows.to_json(orient="records"))[0]
    mutate(record)
    predictor = _predictor(world, 5)
    with pytest.raises(BadRequest) as err:
        predictor.predict("telco_churn", [record], "r")
    assert err.value.status == status and err.value.errors[0]["field"] == field
    with pytest.raises(BadRequest) as err:
        predictor.predict("telco_churn", [record] * 6, "r")
    assert err.value.status == 413
    with pytest.raises(ModelNotFound):
        predictor.predict("no_such_dataset", [record], "r")


def test_a_new_champion_that_fails_its_checksum_never_replaces_the_working_one(trained):
    world, _ = trained
    clock = [0.0]
    alerts = []
    cache = ChampionCache(
        world.registry,
        world.store,
        ttl=10,
        clock=lambda: clock[0],
        on_incident=lambda incident: alerts.append((incident.champion, incident.serving)),
    )
    assert cache.get("telco_churn").version.version == 1
    v1 = world.registry.champion("telco_churn")
    world.registry.put_version(v1.model_copy(update={"version": 2, "sha256": "0" * 64}))
    world.registry.set_champion("telco_churn", 2, expected=1)
    try:
        clock[0] = 11.0
        assert cache.get("telco_churn").version.version == 1  # still serving v1
        clock[0] = 22.0
        assert cache.get("telco_churn").version.version == 1
        assert alerts == [(2, 1)]  # one alert for the bad version, not one per refresh
    finally:
        world.registry.champions["telco_churn"] = 1
        del world.registry.versions[("telco_churn", 2)]


def _clear_monitoring(world):
    for uri in [
        u
        for u in world.store.objects
        if "/captures/" in u or "/monitoring/" in u or "/labels/" in u
    ]:
        del world.store.objects[uri]


def _monitor(world, contract, now=None, workflow=None):
    ctx = MonitorContext(
        world.registry,
        world.store,
        world.mailer,
        "lake",
        "raw",
        ["a@example.com"],
        workflow,
        world.tables,
    )
    return check_dataset(
        "telco_churn", contract, ctx, now=now or datetime.now(UTC) + timedelta(seconds=1)
    )


def test_monitor_alerts_on_drift_once_per_cooldown_and_stays_quiet_without_it(
    trained, telco_contract_text
):
    world, _ = trained
    _clear_monitoring(world)
    contract = parse_contract(telco_contract_text)
    _, rows = _records(world, 300)
    predictor = _predictor(world)
    records = json.loads(rows.to_json(orient="records"))
    predictor.predict("telco_churn", records, "calm")
    sent_before = len(world.mailer.sent)
    calm = _monitor(world, contract)
    assert calm["status"] == "ok" and calm["rows"] == 300 and len(world.mailer.sent) == sent_before
    _clear_monitoring(world)

    shifted = [dict(r, tenure=1, contract="Month-to-month") for r in records]
    predictor.predict("telco_churn", shifted, "shifted")
    drift = _monitor(world, contract)
    assert drift["status"] == "drift" and {"tenure", "contract"} <= set(drift["drifted"])
    email, _ = world.mailer.sent[-1]
    assert "tenure" in email.subject and drift["report_uri"] in email.text
    assert "median" in email.text or "shares" in email.html
    assert world.store.get(drift["report_uri"].replace(".json", ".html"))

    again = _monitor(world, contract, now=datetime.now(UTC) + timedelta(minutes=5))
    assert (
        again["status"] == "drift" and again["alerting"]["drift"] == []
    )  # cooldown: no second email
    assert len(world.mailer.sent) == sent_before + 1
    wide = contract.model_copy(
        update={"monitoring": contract.monitoring.model_copy(update={"window_days": 3})}
    )
    later = _monitor(world, wide, now=datetime.now(UTC) + timedelta(hours=25))
    # The cooldown is over but the shift is the same: the drift state holds, no repeat email.
    assert "tenure" in later["drifted"] and later["alerting"]["drift"] == []
    assert len(world.mailer.sent) == sent_before + 1


def test_persistence_waits_for_consecutive_drifted_windows(trained, telco_contract_text):
    world, _ = trained
    _clear_monitoring(world)
    contract = parse_contract(telco_contract_text)
    contract = contract.model_copy(
        update={"monitoring": contract.monitoring.model_copy(update={"persistence": 2})}
    )
    _, rows = _records(world, 300)
    predictor = _predictor(world)
    predictor.predict(
        "telco_churn", [dict(r, tenure=1) for r in json.loads(rows.to_json(orient="records"))], "s"
    )
    first = _monitor(world, contract)
    second = _monitor(world, contract, now=datetime.now(UTC) + timedelta(minutes=1))
    # the first window shows the drift; the state (and the email) waits for the second
    assert "tenure" in first["drift"]["showing"] and "tenure" not in first["drifted"]
    assert first["alerting"]["drift"] == []
    assert "tenure" in second["drifted"] and "tenure" in second["alerting"]["drift"]


def test_delayed_labels_reveal_decay_and_can_trigger_retraining(trained, telco_contract_text):
    world, state = trained
    _clear_monitoring(world)
    contract = parse_contract(telco_contract_text)
    contract = contract.model_copy(
        update={"monitoring": contract.monitoring.model_copy(update={"retrain_on": "decay"})}
    )
    _, rows = _records(world, 400)
    predictor = _predictor(world)
    records = json.loads(rows.to_json(orient="records"))
    predictor.predict("telco_churn", records, "r")
    # The world changed: the truth is now the opposite of what the model learned.
    flipped = ["No" if c == "Yes" else "Yes" for c in rows["churn"]]
    labels = "customer_id,churn\n" + "\n".join(
        f"{i},{c}" for i, c in zip(rows["customer_id"], flipped, strict=True)
    )
    world.store.put("s3://raw/labels/telco_churn/2026-11.csv", labels.encode())
    workflow = MemoryWorkflow()
    result = _monitor(world, contract, workflow=workflow)
    decay = result["decay"]
    assert decay["status"] == "decay" and decay["labelled"] == 400 and decay["auc"] < 0.5
    assert "performance decayed" in world.mailer.sent[-1][0].subject
    (run,) = workflow.started.values()
    assert run["trigger"] == "monitor" and run["labelled_rows_added"] == 400
    retrain_data = world.tables.read_parquet(run["curated_uri"])
    original = world.tables.read_parquet(state.curated_uri)
    assert len(retrain_data) == len(original)  # the 400 labelled rows replace their older copies
    flipped_now = retrain_data.set_index("customer_id").loc[rows["customer_id"], "churn"].tolist()
    assert flipped_now == flipped
    trained_again = train(
        dict(run), store=world.store, tables=world.tables, model_bucket="models", lake_bucket="lake"
    )  # the merged data trains like any curated file
    assert trained_again.candidates["lightgbm"].validation["auc"] is not None
    again = _monitor(world, contract, now=datetime.now(UTC) + timedelta(hours=1), workflow=workflow)
    assert (
        "retraining" not in again and len(workflow.started) == 1
    )  # retraining has its own cooldown


def test_a_batch_file_gets_a_predictions_file_equal_to_the_api(trained, telco_csv):
    import io as _io

    import pandas as pd

    from tabflow.file_scoring import BatchConfig, score_object

    world, _ = trained
    frame = (
        pd.read_csv(_io.BytesIO(telco_csv), dtype=str, keep_default_na=False)
        .head(100)
        .drop(columns=["churn"])
    )
    frame.loc[5, "tenure"] = "soon"  # one bad row: quarantined, the others scored
    data = frame.to_csv(index=False).encode()
    world.store.put("s3://raw/batch/telco_churn/november.csv", data)
    config = BatchConfig("raw", "lake", ["a@example.com"], 1 << 30)
    out = score_object(
        key="batch/telco_churn/november.csv",
        etag="b1",
        size=len(data),
        config=config,
        store=world.store,
        registry=world.registry,
        mailer=world.mailer,
    )
    assert (
        out["status"] == "scored"
        and out["counts"]["curated"] == 99
        and out["counts"]["quarantined"] == 1
    )
    predictions = pd.read_csv(_io.BytesIO(world.store.get(out["predictions_uri"])))
    assert list(predictions.columns) == ["customer_id", "line", "score", "label", "model_version"]
    assert predictions["line"].tolist() == [i + 2 for i in range(100) if i != 5]  # file lines
    assert len(predictions) == 99 and set(predictions["label"]) <= {"Yes", "No"}
    assert (predictions["model_version"] == 1).all()
    # The same records through the API give the same scores.
    predictor = _predictor(world)
    from tabflow.contract import parse_contract
    from tabflow.readers import read_table
    from tabflow.validation import validate

    contract = parse_contract(world.store.get("s3://raw/contracts/telco_churn.yaml"))
    typed = validate(
        read_table(data, name="b.csv"), contract, file="b.csv", for_scoring=True
    ).curated
    api = predictor.predict(
        "telco_churn", json.loads(typed.to_json(orient="records")), "batch-parity"
    )
    np.testing.assert_allclose(
        predictions["score"], [p["score"] for p in api["predictions"]], atol=1e-6
    )

    parquet = _io.BytesIO()
    frame.drop(index=5).to_parquet(parquet, index=False)
    world.store.put("s3://raw/batch/telco_churn/december.parquet", parquet.getvalue())
    out = score_object(
        key="batch/telco_churn/december.parquet",
        etag="b2",
        size=len(parquet.getvalue()),
        config=config,
        store=world.store,
        registry=world.registry,
        mailer=world.mailer,
    )
    assert out["predictions_uri"].endswith(".parquet")
    assert len(pd.read_parquet(_io.BytesIO(world.store.get(out["predictions_uri"])))) == 99
    # The batch inputs reach the monitor like API captures do.
    captured = [u for u in world.store.objects if "/captures/telco_churn/" in u]
    batch_rows = [
        json.loads(line)
        for u in captured
        for line in world.store.get(u).splitlines()
        if json.loads(line)["_request_id"].startswith("b-")
    ]
    assert len(batch_rows) >= 99 and batch_rows[0]["contract"] in (
        "Month-to-month",
        "One year",
        "Two year",
    )
    missing = score_object(
        key="batch/no_model/x.csv",
        etag="b3",
        size=10,
        config=config,
        store=world.store,
        registry=world.registry,
        mailer=world.mailer,
    )
    assert missing["status"] == "rejected"


@pytest.mark.parametrize(
    ("configured", "requested", "rows", "expected"),
    [
        ("lambda", None, 10**7, "lambda"),  # no Batch resources: never batch on its own
        ("batch", None, 10, "batch"),
        ("auto", None, 999_999, "lambda"),  # 999,999 x 40 < 40M cells
        ("auto", None, 1_000_000, "batch"),
        ("auto", "lambda", 10**7, "lambda"),  # an execution may ask
        ("batch", "lambda", 10, "lambda"),
    ],
)
def test_the_training_engine_follows_the_stack_and_the_switch_point(
    configured, requested, rows, expected
):
    assert choose_engine(configured, requested, rows, 40, 40_000_000) == expected


def test_asking_for_batch_where_the_stack_has_none_is_a_clear_error():
    with pytest.raises(ValueError, match="TrainingEngine=batch or auto"):
        choose_engine("lambda", "batch", 10, 40, 40_000_000)
    with pytest.raises(ValueError, match="expected 'lambda' or 'batch'"):
        choose_engine("auto", "gpu", 10, 40, 40_000_000)


def test_results_left_by_batch_jobs_are_read_back_in_order():
    store = MemoryStore()
    store.put("s3://m/d/runs/r/jobs/trial-1.json", json.dumps({"trial": 1, "score": 0.8}).encode())
    items = [{"trial": 0, "score": 0.7}, {"result_uri": "s3://m/d/runs/r/jobs/trial-1.json"}]
    assert collect_results(items, store) == [
        {"trial": 0, "score": 0.7},
        {"trial": 1, "score": 0.8},
    ]
    assert select_trial(collect_results(items, store))["trial"] == 1
