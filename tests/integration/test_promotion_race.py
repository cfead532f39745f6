"""Promotions at once never mix versions (issue 12, item 1).

The real Promote handler runs on threads against moto, 2 and 8 promotions at a time, many
times over; a promotion that raises PromotionConflict is run again as the state machine's
Retry says (the budget is read from training.asl.json). Afterwards every registered version's
record and files must belong to one run (metadata run_id, model sha256, calibrator, spec,
gates, a single model file), numbers must have no gaps and the champion must be the newest;
then the API must answer, for the champion and after rollbacks, exactly what that run's own
model and calibrator answer."""

import copy
import json
import random
import threading
import time
from typing import Any

import pytest

from tabflow.adapters.memory import MemoryRegistry, MemoryStore
from tabflow.features import FeatureSpec
from tabflow.serving.records import records_to_columns
from tabflow.workflow.promote import promote
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.model_runs import (
    Run,
    atomic_requests,  # noqa: F401 (fixture)
    check_versions,
    expected_score,
    fit_runs,
    materialize,
)
from tests.integration.test_handlers import TELCO_RECORD

ASL = json.loads((ROOT / "statemachines" / "training.asl.json").read_text())
RACES = {2: 12, 8: 5}  # promotions at once -> rounds


def asl_retry_budget(error: str) -> int:
    """How many times the state machine runs Promote again after ``error``."""
    for retrier in ASL["States"]["Promote"].get("Retry", []):
        if error in retrier["ErrorEquals"]:
            return int(retrier.get("MaxAttempts", 3))
    return 0


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(8, telco_csv, telco_contract_text)


def race(handler: Any, runs: list[Run]) -> dict[str, Any]:
    """Start every run's Promote at the same instant; retry as ASL would. Returns run_id ->
    the handler's output, or the exception that ended it (the state machine's Catch)."""
    budget = asl_retry_budget("PromotionConflict")
    barrier = threading.Barrier(len(runs))
    outcomes: dict[str, Any] = {}

    def one(run: Run) -> None:
        barrier.wait()
        retries = 0
        while True:
            try:
                outcomes[run.run_id] = handler(copy.deepcopy(run.state), Context())
                return
            except Exception as exc:  # what the Lambda reports as errorType
                if type(exc).__name__ == "PromotionConflict" and retries < budget:
                    retries += 1
                    continue
                outcomes[run.run_id] = exc
                return

    threads = [threading.Thread(target=one, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def _score(predict: Any, dataset: str = "telco_churn") -> tuple[int, float]:
    resp = predict.lambda_handler(
        api_event(
            "POST",
            f"/v1/datasets/{dataset}/predict",
            "/v1/datasets/{dataset}/predict",
            {"dataset": dataset},
            json.dumps(TELCO_RECORD),
        ),
        Context(),
    )
    assert resp["statusCode"] == 200, resp
    body = json.loads(resp["body"])
    return body["model_version"], body["predictions"][0]["score"]


def _row(run: Run):
    spec = FeatureSpec.from_json(run.files[run.spec_key])
    return spec.serving_matrix(records_to_columns(spec, [TELCO_RECORD]))


@pytest.mark.usefixtures("atomic_requests")
def test_concurrent_promotions_never_mix_a_version(aws, load_handler, fits):
    from tabflow.cli import registry_main

    promote_handler = load_handler("PromoteFunction").lambda_handler
    runs: dict[str, Run] = {}
    started, cpu = time.perf_counter(), time.process_time()
    rounds = 0
    failures = []
    for width, repeats in RACES.items():
        for r in range(repeats):
            batch = materialize(fits[:width], aws, f"w{width}r{r}")
            runs.update({run.run_id: run for run in batch})
            outcomes = race(promote_handler, batch)
            failures += [(k, repr(v)) for k, v in outcomes.items() if isinstance(v, Exception)]
            rounds += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    found = check_versions(aws, runs)  # raises on any mixed version
    # every promotion ended registered, once: none lost, none reported as failed
    assert failures == []
    assert sorted(found["versions"].values()) == sorted(runs)
    print(
        f"\nRACE: {rounds} races, {len(runs)} promotions, 0 mixed versions, "
        f"{seconds:.1f} s ({cpu:.1f} s CPU)"
    )

    # The API answers what the champion's own run answers, and so after rollbacks.
    predict = load_handler("PredictFunction")
    version, score = _score(predict)
    assert version == found["champion"]
    champion_run = runs[found["versions"][version]]
    assert score == expected_score(champion_run, _row(champion_run))
    table = aws.ref("RegistryTable")
    for target in random.Random(0).sample(sorted(found["versions"])[:-1], 3):
        assert registry_main(["--table", table, "rollback", "telco_churn", str(target)]) == 0
        predict = load_handler("PredictFunction")  # a cold start: the new champion loads
        version, score = _score(predict)
        run = runs[found["versions"][target]]
        assert version == target and score == expected_score(run, _row(run))
    check_versions(aws, runs, champion_is_newest=False)


def test_a_promotion_retried_after_it_succeeded_registers_nothing_new(aws, load_handler, fits):
    """A Lambda that registered the version but whose answer was lost is run again: same
    version, same files, no second version."""
    promote_handler = load_handler("PromoteFunction").lambda_handler
    (run,) = materialize(fits[1:2], aws, "again")
    first = promote_handler(copy.deepcopy(run.state), Context())
    second = promote_handler(copy.deepcopy(run.state), Context())
    assert first == second and first["version"] == 1
    assert check_versions(aws, {run.run_id: run})["versions"] == {1: run.run_id}


class _YieldingStore(MemoryStore):
    """An in-memory store that lets other threads run between every read and write."""

    def get(self, uri: str) -> bytes:
        time.sleep(0)
        return super().get(uri)

    def put(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        time.sleep(0)
        super().put(uri, data, content_type)


def test_the_in_memory_registry_is_as_strict_as_dynamodb(fits, aws):
    """The fake the unit tests use applies the same conditions atomically: 8 promotions at
    once, 40 times, through the domain function, never share a number or a pointer move."""
    s3_runs = materialize(fits, aws, "mem")  # bytes and states (bucket names) for the fake
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    registry = MemoryRegistry()
    store = _YieldingStore()
    raw = s3_runs[0].state["contract_uri"]
    b, _, k = raw[5:].partition("/")
    store.put(raw, s3.get_object(Bucket=b, Key=k)["Body"].read())
    bucket = "models"
    states = []
    for rep in range(40):
        for run in s3_runs:
            state = json.loads(
                json.dumps(run.state)
                .replace(f"s3://{aws.ref('ModelBucket')}/", f"s3://{bucket}/")
                .replace(run.run_id, f"m{rep}-{run.index}")
            )
            for key, data in run.files.items():
                store.put(f"s3://{bucket}/{key.replace(run.run_id, state['run_id'])}", data)
            states.append((rep, state))
    by_rep: dict[int, list[dict]] = {}
    for rep, state in states:
        by_rep.setdefault(rep, []).append(state)
    for group in by_rep.values():
        barrier = threading.Barrier(len(group))
        errors: list[Exception] = []

        def one(state: dict, barrier: threading.Barrier = barrier, errors: list = errors) -> None:
            barrier.wait()
            try:
                promote(
                    state,
                    store=store,
                    registry=registry,
                    model_bucket=bucket,
                    code_version="t",
                    sleep=lambda s: None,
                )
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(s,)) for s in group]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    versions = registry.list_versions("telco_churn")
    assert [v.version for v in versions] == list(range(1, 321))
    assert len({v.run_id for v in versions}) == 320
    assert registry.champion("telco_churn").version == 320
    for v in versions:
        meta = json.loads(store.get(v.metadata_uri))
        assert meta["run_id"] == v.run_id and v.run_id in v.model_uri
