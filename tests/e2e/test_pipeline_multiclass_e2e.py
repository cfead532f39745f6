"""Multiclass through the offline AWS (the real template, handlers, state machine and HTTP
API), on the hotel rates export as a room-type task (datasets/hotel_rooms.yaml): drop the
file, train, gate, promote; the API answers with class probabilities; the captures carry
them; the monitor stays quiet while bookings like the training ones arrive, and sends one
email when the predicted class shares move (expensive bookings: the larger rooms)."""

import email
import email.policy
import json

import pandas as pd
import pytest
import requests

from offline_aws.demo import wait_for_captures
from tests.conftest import ROOT
from tests.e2e.conftest import wait_for_executions
from tests.integration.test_regression_intervals import DATA

pytestmark = pytest.mark.e2e

DATASET = "hotel_rooms"
TRAIN_ROWS, WINDOW, WINDOWS = 4000, 300, 3


def contract() -> str:
    """The repository's contract, split at random rather than in time (so bookings drawn
    from the same export are unchanged data for the monitor), with a light tuning budget."""
    text = (ROOT / "datasets" / "hotel_rooms.yaml").read_text()
    assert "timestamp_column: arrival_date\n" in text and "\ntraining:\n" in text
    text = text.replace("timestamp_column: arrival_date\n", "")
    return text.replace("\ntraining:\n", "\ntraining:\n  tuning: {trials: 1, folds: 2}\n")


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(
        frame.drop(columns=["reserved_room_type", "assigned_room_type"]).to_json(orient="records")
    )


def replay(stack, rows: list[dict]) -> list[dict]:
    url = f"{stack.api_url}/v1/datasets/{DATASET}/predict"
    out = []
    for i in range(0, len(rows), 100):
        resp = requests.post(
            url, json={"records": rows[i : i + 100]}, headers={"x-api-key": stack.api_key},
            timeout=60,
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
        out += resp.json()["predictions"]
    return out


def check(stack) -> dict:
    fired = stack.fire("MonitorFunction")
    assert not fired.errored, fired.payload
    (result,) = [d for d in fired.payload["datasets"] if d["dataset"] == DATASET]
    return result


def drift_mails(stack) -> list:
    return sorted((stack.state_dir / "outbox").glob("*hotel-rooms-input-drift*.eml"))


def test_a_multiclass_model_is_served_captured_and_watched(stack):
    if not DATA.exists():
        pytest.skip("shared/data/hotel_rates.csv is not present")
    export = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    shuffled = export.sample(frac=1.0, random_state=7).reset_index(drop=True)
    train = shuffled.iloc[:TRAIN_ROWS]
    rest = shuffled.iloc[TRAIN_ROWS:]
    s3 = stack.client("s3")
    raw = stack.ref("RawBucket")
    errors_before = len(stack.runtime.errors)
    s3.put_object(Bucket=raw, Key=f"contracts/{DATASET}.yaml", Body=contract().encode())
    sfn = stack.client("stepfunctions")
    before = len(
        sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
    )
    s3.put_object(
        Bucket=raw, Key=f"incoming/{DATASET}/bookings.csv", Body=train.to_csv(index=False).encode()
    )
    stack.wait_idle()
    runs = wait_for_executions(stack, before + 1)
    (run,) = [r for r in runs if json.loads(r["input"])["dataset"] == DATASET]
    assert run["status"] == "SUCCEEDED", run.get("cause")
    output = json.loads(run["output"])
    assert output["promotion"]["version"] == 1, output["evaluation"]

    # Bookings like the training ones: class probabilities, summing to 1; quiet monitor.
    unchanged = records(rest.iloc[: WINDOW * WINDOWS])
    for w in range(WINDOWS):
        answers = replay(stack, unchanged[w * WINDOW : (w + 1) * WINDOW])
        for a in answers:
            assert abs(sum(a["probabilities"].values()) - 1.0) < 1e-5
            assert a["label"] == max(a["probabilities"], key=a["probabilities"].get)
        wait_for_captures(stack, DATASET, (w + 1) * WINDOW)
        quiet = check(stack)
        assert quiet["status"] == "ok" and quiet["drifted"] == [], quiet["drift"]
    assert drift_mails(stack) == []

    # The captured lines carry the predicted class and every probability.
    lake = stack.ref("LakeBucket")
    listed = s3.list_objects_v2(Bucket=lake, Prefix=f"captures/{DATASET}/")["Contents"]
    line = json.loads(
        s3.get_object(Bucket=lake, Key=listed[0]["Key"])["Body"].read().splitlines()[0]
    )
    assert line["_label"] in answers[0]["probabilities"] and len(line["_probabilities"]) == len(
        answers[0]["probabilities"]
    )

    # Expensive bookings only: the larger room types. One email, naming the class shares.
    price = rest["avg_price_per_room"].astype(float)
    shifted = records(rest.iloc[WINDOW * WINDOWS :][price.iloc[WINDOW * WINDOWS :] > 180])
    replay(stack, shifted[: WINDOW * WINDOWS])
    wait_for_captures(stack, DATASET, 2 * WINDOW * WINDOWS)
    result = check(stack)
    assert result["status"] == "drift" and "score" in result["drifted"], result["drifted"]
    (mail,) = drift_mails(stack)
    text = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    plain = text.get_body(preferencelist=("plain",)).get_content()
    assert "predicted class shares" in plain and "percentage points" in plain, plain
    bucket, key = result["report_uri"].removeprefix("s3://").split("/", 1)
    report = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "score:" in report  # each class's probability has its row in the monitoring report
    again = check(stack)
    assert again["status"] == "drift" and len(drift_mails(stack)) == 1
    assert stack.runtime.errors[errors_before:] == []
    print(f"\nMULTICLASS E2E: {json.dumps(output['evaluation']['metrics'])}")
