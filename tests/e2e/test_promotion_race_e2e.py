"""Promotions at once through the offline stack (issue 12, item 1): the Promote Lambda invoked
8 at a time through the local AWS endpoint — moto in server mode, each invocation in its own
worker process of the runtime's pool — several rounds; a PromotionConflict is invoked again
as the state machine's Retry would. Every registered version must be whole and its own run's.
A dataset of its own (a copy of the Telco contract), so other e2e tests' versions are apart."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.model_runs import Run, check_versions, fit_runs, materialize
from tests.integration.test_promotion_race import asl_retry_budget

DATASET = "race_telco"
ROUNDS = 3


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(8, telco_csv, telco_contract_text)


def _promote(lam: Any, function: str, run: Run) -> dict:
    budget = asl_retry_budget("PromotionConflict")
    for _ in range(budget + 1):
        resp = lam.invoke(FunctionName=function, Payload=json.dumps(run.state).encode())
        payload = json.loads(resp["Payload"].read())
        if "FunctionError" not in resp:
            return payload
        if payload.get("errorType") != "PromotionConflict":
            return payload
    return payload


def test_promotions_at_once_through_the_offline_stack(stack, fits, telco_contract_text):
    s3, lam, ddb = stack.client("s3"), stack.client("lambda"), stack.client("dynamodb")
    contract = telco_contract_text.replace("dataset: telco_churn", f"dataset: {DATASET}")
    s3.put_object(
        Bucket=stack.ref("RawBucket"), Key=f"contracts/{DATASET}.yaml", Body=contract.encode()
    )
    function = stack.ref("PromoteFunction")
    runs: dict[str, Run] = {}
    answers = []
    for r in range(ROUNDS):
        batch = materialize(fits, stack, f"e2e{r}", s3=s3, dataset=DATASET)
        runs.update({run.run_id: run for run in batch})
        with ThreadPoolExecutor(len(batch)) as pool:
            answers += list(pool.map(lambda run: _promote(lam, function, run), batch))
    assert [a for a in answers if "version" not in a] == []  # every promotion succeeded
    found = check_versions(stack, runs, s3=s3, ddb=ddb, dataset=DATASET)
    assert sorted(found["versions"].values()) == sorted(runs)
    assert {a["run_id"]: a["version"] for a in answers} == {
        run: v for v, run in found["versions"].items()
    }
    print(f"\nE2E RACE: {len(runs)} promotions, 8 at a time, 0 mixed versions")
