"""A multiclass champion monitored through the Monitor handler under moto (the stack from
template.yaml, the real registry, buckets and SES): captured predictions carry the class
probabilities as the API and batch scoring write them; the check is quiet on unchanged data,
emails score drift naming the class whose predicted share moved, resolves messy delayed
labels to the model's classes (merged rare classes as ``other``, unknown values counted) and
emails decay when the macro AUC of the captured probabilities falls.

The champion is registered directly (its feature spec and drift reference in the model
bucket, as Promote leaves them): the monitor reads no model file, so this test needs no
trained multiclass model."""

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.drift import build_reference
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.ports import ModelVersion
from tests.integration.conftest import Context
from tests.unit.test_multiclass_monitoring import (
    CLASSES,
    CONTRACT_TEXT,
    SPEC,
    model,
    population,
)

REGION = "us-east-1"
DATASET = "fares"
ROWS = 1500


def _subjects() -> list[str]:
    out = []
    for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
        raw = getattr(m, "raw_data", None)
        out.append(
            str(email.message_from_string(raw, policy=email.policy.default)["Subject"])
            if raw
            else str(m.subject)
        )
    return [s for s in out if f"{DATASET}:" in s]


def _put(bucket: str, key: str, body: bytes) -> None:
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key=key, Body=body)


def _capture(aws, rows: np.ndarray, probabilities: np.ndarray, at: datetime, name: str) -> None:
    """Capture lines as the API writes them for a multiclass model: the inputs, _score (the
    top probability), _label (the predicted class), _probabilities (the model's order)."""
    p = np.round(probabilities, 6)
    lines = [
        json.dumps(
            {
                "distance": float(x[0]),
                "channel": SPEC.features[1].categories[int(x[1])],
                "_at": at.isoformat(),
                "_request_id": name,
                "_model_version": 1,
                "_score": float(p[k].max()),
                "_id": f"{name}-{k}",
                "_label": CLASSES[int(p[k].argmax())],
                "_probabilities": p[k].tolist(),
            }
        )
        for k, x in enumerate(rows)
    ]
    key = f"captures/{DATASET}/dt={at:%Y-%m-%d}/{at:%H%M%S}-{name}.jsonl"
    _put(aws.ref("LakeBucket"), key, "\n".join(lines).encode())


def _champion(aws, now: datetime) -> tuple[np.ndarray, float]:
    """Register a multiclass champion (spec and reference in the model bucket); its
    reference rows, and a test macro AUC (on fresh rows whose classes the model's own
    probabilities draw: a well-calibrated model)."""
    rng = np.random.default_rng(21)
    reference_rows = population(rng, 20_000)
    models = aws.ref("ModelBucket")
    reference = build_reference(SPEC, reference_rows, model(reference_rows), seed=3)
    _put(models, f"{DATASET}/v1/features.json", SPEC.to_json().encode())
    _put(models, f"{DATASET}/v1/reference.json", reference.to_json().encode())
    test = population(rng, 5000)
    p = model(test)
    y = (p.cumsum(axis=1) < rng.random((5000, 1))).sum(axis=1)
    test_auc = multiclass_metrics(y, p, CLASSES)["auc"]
    env = aws.function_by_logical("MonitorFunction").environment
    DynamoRegistry(env["REGISTRY_TABLE"]).register(
        ModelVersion(
            dataset=DATASET,
            version=1,
            kind="lightgbm",
            model_uri=f"s3://{models}/{DATASET}/v1/model.txt",
            sha256="0" * 64,
            spec_uri=f"s3://{models}/{DATASET}/v1/features.json",
            reference_uri=f"s3://{models}/{DATASET}/v1/reference.json",
            metadata_uri=f"s3://{models}/{DATASET}/v1/metadata.json",
            threshold=0.5,
            metrics={"auc": test_auc},
            run_id="r1",
            created_at=now - timedelta(days=20),
        ),
        expected=None,
    )
    return reference_rows, test_auc


def _labelled(aws, rng: np.random.Generator, now: datetime, shuffle: bool) -> dict:
    """1500 predictions 10 days old and their labels as people write them: true classes
    drawn from the probabilities the model gave (shuffled across rows when ``shuffle``: a
    model that no longer ranks anything), spelled with stray spaces, the rare class
    "charter" (merged into "other" at training), 20 values that are no class, 10 blanks."""
    rows = population(rng, ROWS)
    p = model(rows)
    y = (p.cumsum(axis=1) < rng.random((ROWS, 1))).sum(axis=1)
    served = p[rng.permutation(ROWS)] if shuffle else p
    _capture(aws, rows, served, now - timedelta(days=10), "old")
    spelled = [f" {CLASSES[c]} " if k % 7 == 0 else CLASSES[c] for k, c in enumerate(y)]
    spelled = ["charter" if c == "other" and k % 2 else c for k, c in enumerate(spelled)]
    spelled[:20] = ["Economy class"] * 20
    spelled[20:30] = [""] * 10
    body = "id,fare_class\n" + "".join(f"old-{k},{v}\n" for k, v in enumerate(spelled))
    _put(aws.ref("RawBucket"), f"labels/{DATASET}/2026-11.csv", body.encode())
    truth = {k: int(c) for k, c in enumerate(y) if k >= 30}
    return {"truth": truth, "served": served}


def _monitor(aws, load_handler) -> dict:
    text = CONTRACT_TEXT.replace("monitoring: {}\n", "monitoring: {min_rows: 200}\n")
    _put(aws.ref("RawBucket"), f"contracts/{DATASET}.yaml", text.encode())
    out = load_handler("MonitorFunction").lambda_handler({"datasets": [DATASET]}, Context())
    (check,) = out["datasets"]
    return check


def test_unchanged_multiclass_traffic_is_quiet_and_messy_labels_resolve(aws, load_handler):
    now = datetime.now(UTC)
    reference_rows, test_auc = _champion(aws, now)
    rng = np.random.default_rng(5)
    window = reference_rows[rng.integers(0, len(reference_rows), ROWS)]
    _capture(aws, window, model(window), now - timedelta(hours=2), "new")
    labelled = _labelled(aws, rng, now, shuffle=False)

    check = _monitor(aws, load_handler)
    assert check["status"] == "ok" and check["drifted"] == [], check["drift"]["showing"]
    assert check["rows"] == ROWS
    drift = check["drift"]
    assert drift["score"]["kind"] == "categorical"
    assert drift["score"]["reference"]["labels"] == list(CLASSES)
    assert [c["feature"] for c in drift["class_scores"]] == [f"score:{c}" for c in CLASSES]
    decay = check["decay"]
    assert decay["labels"]["resolved"] == ROWS - 30 and decay["labels"]["missing"] == 10
    assert decay["labels"]["unresolved"] == 20
    assert "Economy class: not one of the model's classes" in decay["labels"]["unresolved_values"]
    truth = labelled["truth"]
    keep = sorted(truth)
    expected = multiclass_metrics(
        np.array([truth[k] for k in keep]), np.round(labelled["served"][keep], 6), CLASSES
    )["auc"]
    assert decay["labelled"] == ROWS - 30 and decay["auc"] == expected
    assert decay["window"] in ("ok", "unclear") and not decay["active"], decay
    assert abs(decay["auc"] - test_auc) < 0.05
    assert _subjects() == []


def test_a_moved_class_share_and_shuffled_probabilities_are_emailed(aws, load_handler):
    now = datetime.now(UTC)
    reference_rows, test_auc = _champion(aws, now)
    rng = np.random.default_rng(6)
    first = model(reference_rows).argmax(axis=1) == CLASSES.index("first")
    window = np.concatenate(  # "first" predicted for one row in six (half in training)
        [
            reference_rows[rng.choice(np.flatnonzero(first), ROWS // 6)],
            reference_rows[rng.choice(np.flatnonzero(~first), ROWS - ROWS // 6)],
        ]
    )
    _capture(aws, window, model(window), now - timedelta(hours=2), "new")
    _labelled(aws, rng, now, shuffle=True)

    check = _monitor(aws, load_handler)
    assert check["status"] == "drift" and "score" in check["drifted"]
    assert "score:first" in check["drifted"]
    score = check["drift"]["score"]
    assert score["how"].startswith("predicted class shares moved: 'first' ")
    assert "score" in check["alerting"]["drift"]
    decay = check["decay"]
    assert decay["window"] == "decay" and decay["active"], decay
    assert decay["auc_high"] < test_auc - 0.05
    subjects = _subjects()
    assert len(subjects) == 2, subjects
    drift_mail = next(s for s in subjects if "drift" in s)
    assert "score" in drift_mail and "score:first" in drift_mail
    assert any("performance decayed" in s for s in subjects)

    # the next check: the states hold, no second email
    again = _monitor(aws, load_handler)
    assert again["status"] == "drift" and again["decay"]["active"]
    assert again["alerting"] == {"drift": [], "decay": False}
    assert len(_subjects()) == 2
