"""Monitoring a multiclass champion: score drift is the drift of the predicted class shares
(tested like a categorical feature) and of each class's probability (like a numeric score),
quiet on unchanged data and naming the class that moved; delayed labels resolve to the
model's class codes (merged rare classes count as ``other``, anything else is counted as
not valid); decay compares the macro AUC of the captured probabilities with the test's."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from tabflow.adapters.memory import MemoryStore
from tabflow.contract import Monitoring, parse_contract
from tabflow.drift import ReferenceProfile, build_reference, check_window
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.features import Feature, FeatureSpec
from tabflow.monitoring.alerts import drift_alerts, update_drift_state
from tabflow.monitoring.captures import class_probabilities, drift_check
from tabflow.monitoring.decay import decay_check
from tabflow.monitoring.labels import read_labels
from tabflow.monitoring.retrain import labelled_rows
from tabflow.ports import ModelVersion
from tabflow.targets import resolve_labels
from tests.conftest import ROOT

CLASSES = ("economy", "business", "first", "other")
SPEC = FeatureSpec(
    (Feature("distance", "numeric"), Feature("channel", "categorical", ("web", "app", "desk"))),
    target="fare_class",
    positive_label="",
    negative_label="",
    task="multiclass",
    classes=CLASSES,
    merged=("charter",),
    id_column="id",
)
CONTRACT_TEXT = (
    "dataset: fares\n"
    "target: {column: fare_class, kind: multiclass, rare_classes: other}\n"
    "id_column: id\n"
    "columns:\n"
    "  id: {type: string, feature: false}\n"
    "  fare_class: {type: string}\n"
    "  distance: {type: float}\n"
    "  channel: {type: category, categories: [web, app, desk]}\n"
    "monitoring: {}\n"
)
CONTRACT = parse_contract(CONTRACT_TEXT)
CFG = CONTRACT.monitoring
NOW = datetime(2026, 11, 1, tzinfo=UTC)
N_REF, N_WINDOW = 20_000, 3_000
WEIGHTS = np.array([[-1.0, 0.0], [0.3, 0.6], [1.0, -0.4], [0.0, 0.2]])  # class x feature


def population(rng: np.random.Generator, n: int) -> np.ndarray:
    distance = rng.lognormal(0, 0.6, n)
    channel = rng.choice(3, n, p=[0.5, 0.35, 0.15]).astype(float)
    return np.column_stack([distance, channel])


def model(x: np.ndarray) -> np.ndarray:
    """A fixed softmax model: probabilities (rows x classes) summing to 1."""
    logits = np.column_stack([np.log(x[:, 0]), x[:, 1] - 1]) @ WEIGHTS.T
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def reference_rows():
    return population(np.random.default_rng(5), N_REF)


@pytest.fixture(scope="module")
def reference(reference_rows):
    return build_reference(SPEC, reference_rows, model(reference_rows), seed=2)


def captured(x: np.ndarray, probabilities: np.ndarray, at: datetime = NOW) -> pa.Table:
    """Capture lines as the API writes them for a multiclass model (_score: the top
    probability, _label: the predicted class, _probabilities in the model's class order),
    rounded to 6 digits as served, read back as the monitor reads them."""
    p = np.round(probabilities, 6)
    n = len(x)
    return pa.table(
        {
            "distance": x[:, 0],
            "channel": [SPEC.features[1].categories[int(c)] for c in x[:, 1]],
            "_at": [at.isoformat()] * n,
            "_request_id": ["r"] * n,
            "_model_version": [1] * n,
            "_score": p.max(axis=1),
            "_id": [f"i{k}" for k in range(n)],
            "_label": [CLASSES[int(c)] for c in p.argmax(axis=1)],
            "_probabilities": pa.array(p.tolist(), pa.list_(pa.float64())),
        }
    )


def test_the_reference_holds_predicted_class_shares_and_each_class_probability(reference):
    assert reference.multiclass and reference.score is not None
    assert reference.score.kind == "categorical" and len(reference.score.counts) == 4
    assert sum(reference.score.counts) == N_REF
    assert [p.name for p in reference.class_scores] == [f"score:{c}" for c in CLASSES]
    assert all(p.kind == "numeric" and len(p.sample) == 5000 for p in reference.class_scores)
    again = ReferenceProfile.from_json(reference.to_json())
    assert again == reference
    # a binary reference is what it was (no class profiles), old JSON without them still reads
    old = json.loads(reference.to_json())
    del old["class_scores"]
    assert ReferenceProfile.from_json(json.dumps(old)).class_scores == ()


def test_unchanged_data_does_not_alarm(reference, reference_rows):
    rng = np.random.default_rng(9)
    alarms = []
    for _ in range(20):
        rows = reference_rows[rng.integers(0, N_REF, N_WINDOW)]
        report = drift_check(captured(rows, model(rows)), SPEC, reference, CONTRACT)
        assert report.score is not None and len(report.class_scores) == 4
        alarms += [c.feature for c in report.checks if c.moved]
    assert alarms == []


def test_shifted_class_shares_are_flagged_naming_the_class(reference, reference_rows):
    rng = np.random.default_rng(4)
    p = model(reference_rows)
    first = p.argmax(axis=1) == 2
    # a window where "first" is predicted for a third of the rows (half in training)
    rows = np.concatenate(
        [
            reference_rows[rng.choice(np.flatnonzero(first), N_WINDOW // 3)],
            reference_rows[rng.choice(np.flatnonzero(~first), N_WINDOW - N_WINDOW // 3)],
        ]
    )
    report = drift_check(captured(rows, model(rows)), SPEC, reference, CONTRACT)
    assert report.score is not None and report.score.moved
    assert report.score.feature == "score" and report.score.kind == "categorical"
    how = report.score.how
    ref_share = reference.score.shares[2]
    assert how.startswith("predicted class shares moved: 'first' ")
    assert f"'first' {ref_share:.1%} -> 33.3% (-" in how and "percentage points" in how
    assert "score:first" in [c.feature for c in report.drifted]
    # through the alert rules: the shares and the class probability enter the drift state
    state = update_drift_state(report, {}, CFG, NOW)
    assert state["score"]["active"] == ["chi2"]
    assert {"score", "score:first"} <= set(drift_alerts(report, {}, {}, CFG, NOW))
    out = report.to_dict()
    assert out["score"]["reference"]["labels"] == list(CLASSES)
    assert "score:first" in [c["feature"] for c in out["class_scores"]]
    json.dumps(out)


def test_a_prediction_captured_without_probabilities_counts_as_missing(reference, reference_rows):
    rows = reference_rows[:N_WINDOW]
    table = captured(rows, model(rows))
    broken = table.column("_probabilities").to_pylist()
    for k in range(0, N_WINDOW, 4):  # a quarter without them, or with a wrong count
        broken[k] = None if k % 8 else [0.5, 0.5]
    table = table.set_column(
        table.column_names.index("_probabilities"),
        "_probabilities",
        pa.array(broken, pa.list_(pa.float64())),
    )
    p = class_probabilities(table, 4)
    assert np.isnan(p[::4]).all() and not np.isnan(p[1::4]).any()
    report = drift_check(table, SPEC, reference, CONTRACT)
    assert report.score is not None and "missing" in report.score.active
    assert report.score.window["missing_rate"] == pytest.approx(0.25)


def test_probabilities_of_another_class_count_are_refused(reference, reference_rows):
    with pytest.raises(ValueError, match="classes"):
        check_window(
            reference, SPEC, reference_rows[:100], CFG, probabilities=np.ones((100, 3)) / 3
        )


def test_a_labels_batch_resolves_to_the_model_class_codes():
    values = ["economy", " business ", "first", "other", "charter", "Economy", "", "NA", "zzz"]
    r = resolve_labels(CONTRACT, values, None, CLASSES, SPEC.merged)
    # "charter" was merged into "other" at training; "Economy" is no class (classes are text)
    assert r.kind == "multiclass"
    assert r.y.tolist() == [0, 1, 2, 3, 3, -1, -1, -1, -1]
    assert r.missing == 2
    assert r.invalid == {
        "Economy: not one of the model's classes": 1,
        "zzz: not one of the model's classes": 1,
    }
    assert r.classes == {"economy": 1, "business": 1, "first": 1, "other": 2}
    # without "other" among the model's classes a merged name is no class either
    r = resolve_labels(CONTRACT, ["charter", "first"], None, ("economy", "business", "first"))
    assert r.y.tolist() == [-1, 2] and sum(r.invalid.values()) == 1
    # a champion trained before the target became multiclass has no classes: nothing
    # resolves, and the report says why (the monitor does not fail)
    r = resolve_labels(CONTRACT, ["first", "first", ""], "No")
    assert r.y.tolist() == [-1, -1, -1] and r.invalid == {"first: the model has no classes": 2}


def test_label_files_give_codes_and_labelled_rows_give_class_names():
    store = MemoryStore()
    store.put(
        "s3://raw/labels/fares/a.csv",
        b"id,fare_class\ni0,first\ni1,charter\ni2,nonsense\ni3,\ni4,economy\n",
        "text/csv",
    )
    labels = read_labels(store, "raw", "fares", CONTRACT, None, SPEC.classes, SPEC.merged)
    assert labels.values == {"i0": 2, "i1": 3, "i4": 0}
    assert labels.summary()["unresolved"] == 1 and labels.missing == 1
    x = population(np.random.default_rng(1), 5)
    frame = labelled_rows(captured(x, model(x)), labels.values, SPEC, CONTRACT)
    assert frame["fare_class"].tolist() == ["first", "other", "economy"]


def _champion(auc: float) -> ModelVersion:
    return ModelVersion(
        dataset="fares",
        version=1,
        kind="lightgbm",
        model_uri="s3://m/model.txt",
        sha256="0" * 64,
        spec_uri="s3://m/spec.json",
        reference_uri="s3://m/reference.json",
        metadata_uri="s3://m/metadata.json",
        threshold=0.5,
        metrics={"auc": auc},
        run_id="r",
        created_at=NOW - timedelta(days=30),
    )


@pytest.fixture(scope="module")
def labelled():
    """3000 captured predictions 10 days old, their true classes drawn from the model's
    probabilities (a well-calibrated model), and the macro AUC on those rows."""
    rng = np.random.default_rng(8)
    x = population(rng, 3000)
    p = model(x)
    y = (p.cumsum(axis=1) < rng.random((3000, 1))).sum(axis=1)
    auc = multiclass_metrics(y, p, CLASSES)["auc"]
    return x, p, {f"i{k}": int(c) for k, c in enumerate(y)}, auc


def test_decay_uses_the_macro_auc_of_the_captured_probabilities(labelled):
    x, p, labels, auc = labelled
    table = captured(x, p, NOW - timedelta(days=10))
    out = decay_check(table, labels, _champion(auc), CONTRACT, NOW, classes=CLASSES)
    assert out["labelled"] == 3000 and out["window"] == "ok", out
    assert out["auc"] == pytest.approx(auc, abs=1e-4)
    assert out["auc_low"] < out["auc"] < out["auc_high"]
    assert set(out["per_class"]) == set(CLASSES) and 0 < out["accuracy"] < 1
    json.dumps(out)


def test_decay_is_flagged_when_the_probabilities_are_shuffled(labelled):
    x, p, labels, auc = labelled
    shuffled = p[np.random.default_rng(0).permutation(len(p))]
    table = captured(x, shuffled, NOW - timedelta(days=10))
    out = decay_check(table, labels, _champion(auc), CONTRACT, NOW, classes=CLASSES)
    assert out["window"] == "decay" and out["status"] == "decay", out
    assert out["auc_high"] < auc - CFG.decay_tolerance
    assert abs(out["auc"] - 0.5) < 0.05
    # the decay email reads this result as it reads a binary one
    from tabflow.emails import decay_alert

    assert "performance decayed" in decay_alert("fares", 1, out, "s3://x").subject


def test_labels_for_rows_captured_without_probabilities_are_left_out(labelled):
    x, p, labels, auc = labelled
    table = captured(x, p, NOW - timedelta(days=10)).drop_columns(["_probabilities"])
    out = decay_check(table, labels, _champion(auc), CONTRACT, NOW, classes=CLASSES)
    assert out["status"] == "insufficient_labels" and out["without_probabilities"] == 3000


def test_binary_checks_are_unchanged():
    spec = FeatureSpec((Feature("a", "numeric"),), "y", "1", "0")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 1))
    ref = build_reference(spec, x, 1 / (1 + np.exp(-x[:, 0])), seed=1)
    assert not ref.multiclass and ref.class_scores == ()
    report = check_window(ref, spec, x[:2000], Monitoring(), scores=1 / (1 + np.exp(-x[:2000, 0])))
    assert report.score is not None and report.score.kind == "numeric"
    assert report.class_scores == [] and not report.score.moved


# Real data: NYC flights, a LightGBM multiclass model of the origin airport (EWR, JFK, LGA)
# trained on January-March; its served probabilities are the reference.
FLIGHTS = ROOT.parent / "shared" / "data" / "flights_2013.csv.gz"
ORIGINS = ("EWR", "JFK", "LGA")


@pytest.fixture(scope="module")
def flights():
    if not FLIGHTS.exists():
        pytest.skip("shared/data/flights_2013.csv.gz is not present")
    import lightgbm as lgb
    import pandas as pd

    frame = pd.read_csv(FLIGHTS, usecols=["month", "carrier", "distance", "hour", "origin"])
    frame = frame.dropna().reset_index(drop=True)
    carriers = tuple(sorted(frame["carrier"].unique()))
    spec = FeatureSpec(
        (
            Feature("carrier", "categorical", carriers),
            Feature("distance", "numeric"),
            Feature("hour", "numeric"),
        ),
        target="origin",
        positive_label="",
        negative_label="",
        task="multiclass",
        classes=ORIGINS,
        id_column="id",
    )
    x = np.column_stack(
        [
            frame["carrier"].map({c: i for i, c in enumerate(carriers)}).to_numpy(float),
            frame["distance"].to_numpy(float),
            frame["hour"].to_numpy(float),
        ]
    )
    y = frame["origin"].map({c: i for i, c in enumerate(ORIGINS)}).to_numpy()
    winter = np.flatnonzero(frame["month"].to_numpy() <= 3)
    order = np.random.default_rng(0).permutation(winter)
    train, test, held = order[:12_000], order[12_000:16_000], order[16_000:]  # 24,243 rows
    params = {"objective": "multiclass", "num_class": 3, "num_leaves": 15, "verbose": -1}
    booster = lgb.train(
        params | {"num_threads": 1, "seed": 1},
        lgb.Dataset(x[train], y[train], categorical_feature=[0]),
        num_boost_round=40,
    )
    reference = build_reference(spec, x[train], booster.predict(x[train]))
    test_auc = multiclass_metrics(y[test], booster.predict(x[test]), ORIGINS)["auc"]
    return frame, spec, x, y, booster, reference, held, test_auc


def flight_window(frame, spec, x, booster, rows, at=NOW) -> pa.Table:
    p = np.round(booster.predict(x[rows]), 6)
    n = len(rows)
    return pa.table(
        {
            "carrier": frame["carrier"].to_numpy()[rows].tolist(),
            "distance": x[rows, 1],
            "hour": x[rows, 2],
            "_at": [at.isoformat()] * n,
            "_model_version": [1] * n,
            "_score": p.max(axis=1),
            "_id": [f"f{k}" for k in rows],
            "_probabilities": pa.array(p.tolist(), pa.list_(pa.float64())),
        }
    )


def test_real_flights_unchanged_is_quiet_and_a_carrier_surge_moves_the_origin_shares(flights):
    frame, spec, x, _, booster, reference, held, _ = flights
    quiet = drift_check(
        flight_window(frame, spec, x, booster, held[:4000]), spec, reference, CONTRACT
    )
    assert [c.feature for c in quiet.checks if c.moved] == []
    # JetBlue (mostly out of JFK) doubles its flights: more JFK predicted
    jetblue = held[4000:][frame["carrier"].to_numpy()[held[4000:]] == "B6"]
    rows = np.concatenate([held[:4000], jetblue[:1000]])
    report = drift_check(flight_window(frame, spec, x, booster, rows), spec, reference, CONTRACT)
    moved = {c.feature: c.how for c in report.drifted}
    assert "carrier" in moved and "score" in moved and "score:JFK" in moved
    assert "'JFK'" in moved["score"] and moved["score"].startswith("predicted class shares")


def test_real_flights_decay_is_macro_auc_against_the_test_macro_auc(flights):
    frame, spec, x, y, booster, _, held, test_auc = flights
    rows = held[:4000]
    labels = {f"f{k}": int(y[k]) for k in rows}
    old = NOW - timedelta(days=10)
    table = flight_window(frame, spec, x, booster, rows, old)
    champion = _champion(test_auc)
    out = decay_check(table, labels, champion, CONTRACT, NOW, classes=ORIGINS)
    assert out["window"] == "ok" and abs(out["auc"] - test_auc) < 0.02, out
    # the model's answers no longer match their flights: macro AUC about 0.5, decay
    shuffled = table.set_column(
        table.column_names.index("_id"),
        "_id",
        pa.array([f"f{k}" for k in np.random.default_rng(1).permutation(rows)]),
    )
    out = decay_check(shuffled, labels, champion, CONTRACT, NOW, classes=ORIGINS)
    assert out["window"] == "decay" and out["auc_high"] < test_auc - 0.05, out
