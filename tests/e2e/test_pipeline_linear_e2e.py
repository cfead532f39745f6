"""The monitoring checks of the pipeline e2e again, with the linear model as champion, through
the offline AWS (the real template, handlers, state machine and HTTP API):

- data whose log-odds are linear in ten inputs, so the logistic baseline wins the real
  selection (no switch forces it: the Select task picks it on validation AUC);
- unchanged rows replayed through the API for several checks: no drift email, the score
  included (its reference is the linear champion's served, calibrated scores);
- a shift: one email, none again while it holds;
- the shift starts retraining (retrain_on: drift) and the delayed labels of the captured rows,
  spelled as people spell them, are in the new run's data: counted, with the right classes."""

import csv
import email
import email.policy
import io
import json
import time

import numpy as np
import pandas as pd
import pytest
import requests

from offline_aws.demo import wait_for_captures
from tests.e2e.conftest import wait_for_executions

pytestmark = pytest.mark.e2e

DATASET = "linear_world"
FEATURES = [f"x{j}" for j in range(1, 11)]
WEIGHTS = np.array([0.5, -0.5, 0.45, 0.45, -0.4, 0.4, 0.35, -0.35, 0.3, 0.3])
CONTRACT = f"""dataset: {DATASET}
description: Synthetic purchases whose log-odds are linear in the inputs (a linear champion).
target: {{column: bought, positive_label: "Yes"}}
id_column: id
columns:
  id: {{type: string, nullable: false, feature: false}}
  bought: {{type: category, categories: ["Yes", "No"], nullable: false}}
{"".join(f"  {f}: {{type: float}}\n" for f in FEATURES)}  plan: {{type: category, categories: [basic, plus, premium]}}
gates:
  min_auc: 0.7
training:
  tuning: {{trials: 2, folds: 2}}
monitoring:
  min_rows: 50
  retrain_on: drift
"""
TRAIN_ROWS, WINDOW, WINDOWS = 2000, 400, 4
POSITIVE = ["Yes", "yes", "Y", "TRUE", " Yes "]
NEGATIVE = ["No", "no", "N", "FALSE", " no "]


def world(n: int, seed: int, start: int, shift: float = 0.0) -> tuple[list[dict], np.ndarray]:
    """``n`` customers (ids c<start>...) and whether each bought; ``shift`` moves x1 by that
    many standard deviations and makes "premium" the most common plan."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[:, 0] += shift
    shares = [0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]
    plan = rng.choice(["basic", "plus", "premium"], size=n, p=shares)
    lift = np.select([plan == "plus", plan == "premium"], [0.4, 0.8], 0.0)
    bought = rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x @ WEIGHTS + lift)))
    records = [
        {
            "id": f"c{start + i}",
            **{f: round(float(v), 4) for f, v in zip(FEATURES, x[i], strict=True)},
        }
        | {"plan": str(plan[i])}
        for i in range(n)
    ]
    return records, bought


def to_csv(records: list[dict], bought: np.ndarray) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["id", "bought", *FEATURES, "plan"])
    writer.writeheader()
    for r, b in zip(records, bought, strict=True):
        writer.writerow(r | {"bought": "Yes" if b else "No"})
    return out.getvalue().encode()


def drift_mails(stack) -> list:
    return sorted((stack.state_dir / "outbox").glob("*linear-world-input-drift*.eml"))


def replay(stack, records: list[dict]) -> None:
    url = f"{stack.api_url}/v1/datasets/{DATASET}/predict"
    for i in range(0, len(records), 100):
        resp = requests.post(
            url,
            json={"records": records[i : i + 100]},
            headers={"x-api-key": stack.api_key},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text


def check(stack) -> dict:
    fired = stack.fire("MonitorFunction")
    assert not fired.errored, fired.payload
    (result,) = [d for d in fired.payload["datasets"] if d["dataset"] == DATASET]
    return result


def _runs(stack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    return [
        sfn.describe_execution(executionArn=r["executionArn"]) | {"name": r["name"]} for r in runs
    ]


def test_a_linear_champion_stays_quiet_on_unchanged_data_alerts_once_and_retrains_on_labels(
    stack,
):
    s3 = stack.client("s3")
    raw, lake = stack.ref("RawBucket"), stack.ref("LakeBucket")
    errors_before = len(stack.runtime.errors)
    s3.put_object(Bucket=raw, Key=f"contracts/{DATASET}.yaml", Body=CONTRACT.encode())
    runs_before = len(_runs(stack))
    s3.put_object(
        Bucket=raw, Key=f"incoming/{DATASET}/2026-10.csv", Body=to_csv(*world(TRAIN_ROWS, 1, 0))
    )
    stack.wait_idle()
    runs = wait_for_executions(stack, runs_before + 1)
    (first,) = [r for r in runs if json.loads(r["input"])["dataset"] == DATASET]
    assert first["status"] == "SUCCEEDED", first.get("cause")
    output = json.loads(first["output"])
    assert output["evaluation"]["winner"] == "linear", output["evaluation"]["all_metrics"]
    assert output["promotion"]["version"] == 1

    # Unchanged customers (new draws of the same world), checked after each window: quiet.
    unchanged, bought = world(WINDOW * WINDOWS, 2, 10_000)
    for w in range(WINDOWS):
        replay(stack, unchanged[w * WINDOW : (w + 1) * WINDOW])
        wait_for_captures(stack, DATASET, (w + 1) * WINDOW)
        quiet = check(stack)
        assert quiet["model_version"] == 1 and quiet["rows"] == (w + 1) * WINDOW
        assert quiet["status"] == "ok" and quiet["drifted"] == [], quiet["drift"]
        assert not quiet["drift"]["score"]["moved"], quiet["drift"]["score"]
    assert drift_mails(stack) == []

    # Their truth arrives, spelled as people spell it.
    rng = np.random.default_rng(5)
    spelled = [rng.choice(POSITIVE if b else NEGATIVE) for b in bought]
    labels = "id,bought\n" + "".join(
        f'{r["id"]},"{s}"\n' for r, s in zip(unchanged, spelled, strict=True)
    )
    s3.put_object(Bucket=raw, Key=f"labels/{DATASET}/2026-11.csv", Body=labels.encode())

    # The world shifts: one email, and retraining on the data plus the labelled captures.
    shifted, _ = world(WINDOW * WINDOWS, 3, 20_000, shift=1.0)
    replay(stack, shifted)
    wait_for_captures(stack, DATASET, 2 * WINDOW * WINDOWS)
    result = check(stack)
    assert result["status"] == "drift" and "x1" in result["drifted"], result["drifted"]
    (mail,) = drift_mails(stack)
    assert "x1" in _plain(mail) and "percentage points" in _plain(mail)
    assert result["decay"]["labels"]["resolved"] == WINDOW * WINDOWS
    retraining = result["retraining"]
    assert retraining["labelled_rows_added"] == WINDOW * WINDOWS
    again = check(stack)  # the same shift: the state holds, nobody is mailed twice
    assert again["status"] == "drift" and len(drift_mails(stack)) == 1
    assert "retraining" not in again or again["retraining"] is None

    # The new run's data: the training file plus every labelled capture, once, as the class
    # its label means ("yes", "Y", "TRUE", " Yes " are all "Yes").
    bucket, key = retraining["curated_uri"][5:].split("/", 1)
    assert bucket == lake and key.startswith(f"curated/{DATASET}/run=retrain-")
    data = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert len(data) == TRAIN_ROWS + WINDOW * WINDOWS
    added = data[data["id"].isin([r["id"] for r in unchanged])]
    assert len(added) == WINDOW * WINDOWS
    truth = {r["id"]: "Yes" if b else "No" for r, b in zip(unchanged, bought, strict=True)}
    assert dict(zip(added["id"], added["bought"].astype(str), strict=True)) == truth

    # ... and the retraining run, started through the real state machine, trains on them.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        (run,) = [r for r in _runs(stack) if r["name"] == retraining["run_id"]]
        if run["status"] != "RUNNING":
            break
        time.sleep(1)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    out = json.loads(run["output"])
    assert out["curated_uri"] == retraining["curated_uri"]
    assert sum(out["train"]["rows"].values()) == TRAIN_ROWS + WINDOW * WINDOWS, out["train"]
    assert stack.runtime.errors[errors_before:] == []


def _plain(eml) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()
