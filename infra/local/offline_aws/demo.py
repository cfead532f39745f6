"""The end-to-end demo on a private offline AWS: drop the Telco churn file, wait for the
promoted model, ask the API about a few customers, send a visibly drifted batch, run the
monitor, and show the alert email. Exits non-zero if any step fails."""

import json
import sys
import time
from pathlib import Path
from typing import Any

import requests

from offline_aws.stack import OfflineStack

DATASET = "telco_churn"


def typed_records(root: Path, n: int | None = None) -> list[dict[str, Any]]:
    """Rows of the demo file as an API client would send them (typed by the contract)."""
    from tabflow.contract import parse_contract
    from tabflow.readers import read_table
    from tabflow.validation import validate

    contract = parse_contract((root / "datasets" / f"{DATASET}.yaml").read_text())
    raw = read_table((root / "datasets" / f"{DATASET}.csv").read_bytes(), name=f"{DATASET}.csv")
    frame = validate(raw, contract, file=f"{DATASET}.csv").curated
    frame = frame.head(n) if n else frame
    return json.loads(frame.to_json(orient="records"))


def drifted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New customers on month-to-month fiber contracts paying much more: a real shift."""
    out = []
    for r in records:
        r = dict(r)
        r["tenure"] = min(int(r["tenure"] or 0), 3)
        r["contract"] = "Month-to-month"
        r["internet_service"] = "Fiber optic"
        r["monthly_charges"] = round(float(r["monthly_charges"]) * 1.6 + 20, 2)
        r["total_charges"] = round(r["monthly_charges"] * max(r["tenure"], 1), 2)
        out.append(r)
    return out


def wait_for_execution(stack: OfflineStack, timeout: float = 900) -> dict[str, Any]:
    """The training run's end: about 30 s on a quiet 2-core machine, minutes on a busy one."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
        if runs and runs[0]["status"] != "RUNNING":
            return sfn.describe_execution(executionArn=runs[0]["executionArn"])
        time.sleep(0.5)
    raise TimeoutError("the training run did not finish in time")


def wait_for_captures(stack: OfflineStack, dataset: str, rows: int, timeout: float = 15) -> int:
    """Captures are written off the request path, a moment later: wait until ``rows`` are in."""
    s3 = stack.client("s3")
    lake = stack.ref("LakeBucket")
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=lake, Prefix=f"captures/{dataset}/").get(
                "Contents", []
            )
        ]
        seen = sum(len(s3.get_object(Bucket=lake, Key=k)["Body"].read().splitlines()) for k in keys)
        if seen >= rows:
            return seen
        time.sleep(0.3)
    raise TimeoutError(f"only {seen} of {rows} captured rows arrived")


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    root = Path.cwd()
    started = time.monotonic()
    with OfflineStack(root, stack_name="tabflow-demo", state_dir=root / ".local" / "demo") as stack:
        raw_bucket = stack.ref("RawBucket")
        step(f"offline AWS up at {stack.endpoint}, API at {stack.api_url}")
        step(f"upload datasets/{DATASET}.csv to s3://{raw_bucket}/incoming/{DATASET}/")
        stack.client("s3").upload_file(
            str(root / "datasets" / f"{DATASET}.csv"),
            raw_bucket,
            f"incoming/{DATASET}/{DATASET}.csv",
        )
        stack.wait_idle()
        execution = wait_for_execution(stack)
        output = json.loads(execution.get("output") or "{}")
        print(f"training run {execution['name']}: {execution['status']}")
        if execution["status"] != "SUCCEEDED" or "promotion" not in output:
            print(
                f"!! training did not promote a model: {execution.get('error')} {execution.get('cause')}"
            )
            return 1
        ev = output["evaluation"]
        print(
            f"winner {ev['winner']}: held-out AUC {ev['metrics']['auc']:.3f}, PR-AUC "
            f"{ev['metrics']['pr_auc']:.3f}; candidates {json.dumps(ev['all_metrics'])}"
        )
        print(
            f"promoted model v{output['promotion']['version']}: {output['promotion']['model_uri']}"
        )

        step("ask the API about five customers")
        url = f"{stack.api_url}/v1/datasets/{DATASET}/predict"
        key = {"x-api-key": stack.api_key}
        customers = typed_records(root, 200)
        resp = requests.post(url, json={"records": customers[:5]}, headers=key, timeout=30)
        resp.raise_for_status()
        answer = resp.json()
        for customer, p in zip(customers[:5], answer["predictions"], strict=True):
            why = ", ".join(f"{t['feature']} {t['contribution']:+.2f}" for t in p["top_features"])
            print(
                f"  {customer['customer_id']}: churn probability {p['score']:.3f} -> {p['label']:<3}"
                f"  (model v{answer['model_version']}; drivers: {why})"
            )
        bad = requests.post(
            url, json={"records": [{**customers[0], "tenure": "twelve"}]}, headers=key, timeout=30
        )
        print(f"  a bad record gets {bad.status_code}: {bad.json()['message']}")

        step("send a visibly drifted batch (new month-to-month fiber customers paying more)")
        shifted = drifted(customers)
        for i in range(0, len(shifted), 100):
            requests.post(
                url, json={"records": shifted[i : i + 100]}, headers=key, timeout=30
            ).raise_for_status()
        wait_for_captures(stack, DATASET, len(shifted) + 5)
        print(f"  {len(shifted)} records scored and captured")

        step("run the drift monitor now (it also runs on its schedule)")
        result = stack.fire("MonitorFunction")
        if result.errored:
            print(f"!! monitor failed: {result.payload}")
            return 1
        checks = {d["dataset"]: d for d in result.payload["datasets"]}
        check = checks.get(DATASET, {})
        print(
            f"  status {check.get('status')}; drifted features: {', '.join(check.get('drifted', []))}"
        )
        if check.get("status") != "drift":
            print("!! the monitor did not raise the expected drift alert")
            return 1
        outbox = stack.state_dir / "outbox"
        alerts = sorted(outbox.glob("*input-drift*.eml"))
        print(f"\nalert email: {check['alert_subject']}")
        print(f"  file: {alerts[-1] if alerts else 'missing!'}")
        if not alerts or stack.runtime.errors:
            print(f"!! errors: {stack.runtime.errors}")
            return 1
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
