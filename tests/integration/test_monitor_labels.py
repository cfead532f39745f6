"""Delayed labels and decay through the Monitor handler under moto, with a real champion
(a small LightGBM run promoted by the Promote handler) serving through the Predict handler:
labels spelled as people spell them resolve as training resolves the target, values that
are neither class are counted and reported (never taken as negative), and a decay that
hovers near its threshold gives one steady state and one email, not one per crossing."""

import copy
import email
import email.policy
import json

import boto3
import numpy as np
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from offline_aws.demo import typed_records
from tabflow.evaluation.metrics import roc_auc
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.model_runs import fit_runs, materialize

REGION = "us-east-1"
DATASET = "telco_churn"
SERVED = 400


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(1, telco_csv, telco_contract_text)  # LightGBM wins


@pytest.fixture
def served(aws, load_handler, fits):
    """A promoted champion that served SERVED records (captures flushed): their ids, true
    labels and the scores the API answered."""
    (run,) = materialize(fits, aws, "labels")
    load_handler("PromoteFunction").lambda_handler(copy.deepcopy(run.state), Context())
    records = typed_records(ROOT, SERVED)
    predict = load_handler("PredictFunction")
    path, resource = f"/v1/datasets/{DATASET}/predict", "/v1/datasets/{dataset}/predict"
    scores: list[float] = []
    for i in range(0, len(records), 100):
        body = json.dumps({"records": records[i : i + 100]})
        event = api_event("POST", path, resource, {"dataset": DATASET}, body)
        response = predict.lambda_handler(event, Context())
        assert response["statusCode"] == 200, response["body"]
        scores += [p["score"] for p in json.loads(response["body"])["predictions"]]
    predict.capture.flush()
    ids = [r["customer_id"] for r in records]
    truth = np.array([r["churn"] == "Yes" for r in records])
    return ids, truth, np.array(scores), fits[0].metrics["auc"]


def _put_contract(aws, extra: str = "") -> None:
    text = (ROOT / "datasets" / f"{DATASET}.yaml").read_text()
    text = text.replace("monitoring:\n", "monitoring:\n" + extra, 1)
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=aws.ref("RawBucket"), Key=f"contracts/{DATASET}.yaml", Body=text.encode()
    )


def _put_labels(aws, name: str, body: str) -> None:
    boto3.client("s3", region_name=REGION).put_object(
        Bucket=aws.ref("RawBucket"), Key=f"labels/{DATASET}/{name}", Body=body.encode()
    )


def _decay_mails() -> int:
    count = 0
    for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
        raw = getattr(m, "raw_data", None)
        subject = (
            email.message_from_string(raw, policy=email.policy.default)["Subject"]
            if raw
            else m.subject
        )
        count += "performance decayed" in str(subject)
    return count


POSITIVE = ["Yes", "yes", "Y", "TRUE", " Yes ", "true", "y"]
NEGATIVE = ["No", "no", "N", "FALSE", " no ", "false", "n"]


def test_messy_label_spellings_resolve_as_training_does_and_bad_ones_are_reported(
    aws, load_handler, served
):
    ids, truth, scores, _ = served
    rng = np.random.default_rng(3)
    spelled = [rng.choice(POSITIVE if t else NEGATIVE) for t in truth]
    # 15 values that are neither class, 5 without a label yet (blank, a missing marker)
    bad = {k: "maybe" for k in range(10)} | {k: "2" for k in range(10, 15)}
    blank = {k: "" for k in range(15, 20)}
    spelled = [bad.get(k, blank.get(k, v)) for k, v in enumerate(spelled)]
    csv_rows = range(0, 350)
    json_rows = range(350, SERVED)  # JSON Lines with JSON booleans
    _put_labels(
        aws,
        "2026-11.csv",
        "customer_id,churn\n" + "".join(f'{ids[k]},"{spelled[k]}"\n' for k in csv_rows),
    )
    _put_labels(
        aws,
        "2026-12.jsonl",
        "".join(
            json.dumps({"customer_id": ids[k], "churn": bool(truth[k])}) + "\n" for k in json_rows
        ),
    )
    _put_labels(aws, "notes.csv", "customer_id,comment\nx,hello\n")  # no target column

    out = load_handler("MonitorFunction").lambda_handler({"datasets": [DATASET]}, Context())
    (check,) = out["datasets"]
    decay = check["decay"]
    resolved = np.array([k for k in range(SERVED) if k >= 20])
    assert decay["labelled"] == SERVED - 20
    assert decay["positives"] == int(truth[resolved].sum())
    # the AUC of the right labels: "yes", "Y", "TRUE", " Yes " all count as churn
    assert decay["auc"] == pytest.approx(roc_auc(truth[resolved], scores[resolved]), abs=2e-3)
    labels = decay["labels"]
    assert labels["files"] == 2 and labels["rows"] == SERVED
    assert labels["resolved"] == SERVED - 20 and labels["missing"] == 5
    assert labels["unresolved"] == 15
    assert "maybe: not one of the allowed categories" in labels["unresolved_values"]
    assert "2: not one of the allowed categories" in labels["unresolved_values"]
    assert list(labels["skipped_files"]) == [
        f"s3://{aws.ref('RawBucket')}/labels/{DATASET}/notes.csv"
    ]

    # the stored check report says the same
    bucket, key = check["report_uri"][5:].split("/", 1)
    s3 = boto3.client("s3", region_name=REGION)
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["decay"]["labels"] == labels


def _labels_with_auc(scores: np.ndarray, target: float, seed: int) -> np.ndarray:
    """Half the rows positive, chosen so that the AUC of ``scores`` is ``target`` (+-0.003):
    the score's rank plus more or less noise (a few noise draws, bisecting its scale)."""
    rng = np.random.default_rng(seed)
    rank = np.argsort(np.argsort(scores, kind="stable")) / len(scores)
    for _ in range(20):
        noise = rng.normal(size=len(scores))
        lo, hi = 0.0, 5.0
        for _ in range(40):
            sigma = (lo + hi) / 2
            latent = rank + sigma * noise
            y = latent > np.median(latent)
            auc = roc_auc(y, scores)
            if abs(auc - target) < 0.003:
                return y
            lo, hi = (sigma, hi) if auc > target else (lo, sigma)
    raise AssertionError(f"no labels with AUC {target}")


def test_a_decay_hovering_at_its_threshold_is_one_state_and_one_email(aws, load_handler, served):
    """cooldown 0: only the hysteresis stands between a noisy AUC and an email per crossing."""
    ids, _, scores, test_auc = served
    _put_contract(aws, "  cooldown_hours: 0\n  persistence: 1\n  clear_after: 2\n")
    line = test_auc - 0.05  # decay_tolerance
    assert line > 0.7
    targets = [0.6, line + 0.012, line - 0.012, line + 0.012, line - 0.012, 0.97, 0.97, 0.6]
    monitor = load_handler("MonitorFunction")
    windows, states, mails = [], [], []
    for seed, target in enumerate(targets):
        y = _labels_with_auc(scores, target, seed)
        _put_labels(
            aws,
            "latest.csv",
            "customer_id,churn\n"
            + "".join(f"{i},{'Yes' if t else 'No'}\n" for i, t in zip(ids, y, strict=True)),
        )
        (check,) = monitor.lambda_handler({"datasets": [DATASET]}, Context())["datasets"]
        windows.append(check["decay"]["window"])
        states.append(check["decay"]["active"])
        mails.append(_decay_mails())
        assert check["decay"]["auc"] == pytest.approx(target, abs=0.005)
    # what each check showed: clear decay, four checks within noise of the line, clearly
    # fine twice (clear_after), decay again
    assert windows == ["decay"] + ["unclear"] * 4 + ["ok", "ok", "decay"], windows
    assert states == [True] * 6 + [False, True]
    assert mails == [1] * 7 + [2]  # one email per entry into the state
