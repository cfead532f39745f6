"""Faults (issue 12, "How it is checked"): a worker killed mid-task, a crash between the
model files and the registry, the same S3 event twice and out of order, throttling from
DynamoDB and S3. (Two promotions at once: test_promotion_race.py; corrupted model objects:
test_corrupted_champion.py.)

The Promote tests run the real state machine (training.asl.json as deployed, entered at
Promote) on moto's Step Functions interpreter, each Lambda task running its real handler in
this process, so Retry and Catch are the template's own. Throttling is injected into the
handlers' own boto3 clients as AWS answers it (HTTP 400 ProvisionedThroughputExceeded, HTTP
503 SlowDown), before botocore's retry logic sees the answer."""

import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.adapters.clients import client
from tabflow.errors import TransientError
from tests.conftest import ROOT
from tests.integration.conftest import Context, api_event
from tests.integration.model_runs import check_versions, fit_runs, materialize, registry_items
from tests.integration.test_handlers import TELCO_RECORD, put

REGION = "us-east-1"
ASL = json.loads((ROOT / "statemachines" / "training.asl.json").read_text())


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(1, telco_csv, telco_contract_text)


def mail_subjects(run_id: str) -> list[str]:
    """Subjects of the emails about ``run_id``: an execution an earlier test left running on
    the shared moto backend may still send its own."""
    import email
    import email.policy

    messages = [
        email.message_from_string(m.raw_data, policy=email.policy.default)
        for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    ]

    def text(m: Any) -> str:
        return " ".join(p.get_content() for p in m.walk() if p.get_content_maintype() == "text")

    return [str(m["Subject"]) for m in messages if run_id in text(m)]


class WorkerKilled(BaseException):
    """The process died mid-task (out of memory, timeout): Lambda reports no error type and
    Step Functions sees Lambda.Unknown."""


@pytest.fixture
def state_machine(aws, load_handler, monkeypatch):
    """Run the deployed training state machine from a given state, its Lambda tasks running
    their real handlers here. Returns run(start_at, payload) -> (status, output, calls)."""
    from moto.awslambda.models import LambdaFunction
    from moto.core.config import default_user_config

    sfn = boto3.client("stepfunctions", region_name=REGION)
    deployed = sfn.describe_state_machine(stateMachineArn=aws.ref("TrainingStateMachine"))
    # the interpreter (another moto backend: machines are created again there, from the
    # deployed definition)
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    modules: dict[str, Any] = {}
    calls: list[str] = []
    current: dict[str, Any] = {"run_id": None}

    def handler_module(name: str) -> Any:
        if name not in modules:
            modules[name] = load_handler(aws.functions[name].logical_id)
        return modules[name]

    def invoke(self: Any, event: Any = None) -> tuple[str, bool, str]:
        self.logs_backend.ensure_log_group(self.logs_group_name)
        spec = aws.functions[self.function_name]
        payload = json.loads(event) if isinstance(event, str | bytes) else event
        # only this run's tasks: an execution left running by an earlier test on the same
        # moto backend must not show up in this one's calls
        run = payload.get("run", payload) if isinstance(payload, dict) else {}
        if isinstance(run, dict) and run.get("run_id") in (current["run_id"], None):
            calls.append(spec.logical_id)
        entry = getattr(handler_module(self.function_name), spec.handler.split(".", 1)[1])
        try:
            return json.dumps(entry(payload, Context()), default=str), False, ""
        except WorkerKilled as exc:
            error = {"errorType": "Lambda.Unknown", "errorMessage": str(exc)}
        except Exception as exc:  # a handled Lambda error: the class name is the errorType
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(error), True, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)

    def run(start_at: str, payload: dict) -> tuple[str, dict, list[str]]:
        definition = json.loads(deployed["definition"]) | {"StartAt": start_at}
        arn = sfn.create_state_machine(
            name=f"from-{start_at}-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn=deployed["roleArn"],
        )["stateMachineArn"]
        calls.clear()
        current["run_id"] = payload.get("run_id")
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        deadline = time.monotonic() + 120
        while True:
            desc = sfn.describe_execution(executionArn=execution["executionArn"])
            if desc["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return desc["status"], json.loads(desc.get("output") or "{}"), list(calls)

    run.module = handler_module  # type: ignore[attr-defined]
    return run


def _promote_module(aws: Any, state_machine: Any) -> Any:
    return state_machine.module(aws.ref("PromoteFunction"))


def _kill_after(module: Any, writes: int, *, times: int, error: Callable[[], BaseException]):
    """The Promote handler's store dies after ``writes`` puts, for ``times`` invocations."""
    real_put = module.store.put
    state = {"puts": 0, "left": times}

    def put(uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        if state["left"] > 0:
            state["puts"] += 1
            if state["puts"] > writes:
                state["puts"], state["left"] = 0, state["left"] - 1
                raise error()
        real_put(uri, data, content_type)

    module.store.put = put
    return state


def _versions(aws: Any) -> list[dict]:
    return [i for i in registry_items(aws) if i["pk"]["S"] == "telco_churn"]


def test_a_promote_worker_killed_mid_write_is_run_again_and_promotes_once(aws, state_machine, fits):
    (run,) = materialize(fits, aws, "killed")
    module = _promote_module(aws, state_machine)
    _kill_after(module, 3, times=1, error=lambda: WorkerKilled("killed after 3 files"))
    status, output, calls = state_machine("Promote", run.state)
    assert status == "SUCCEEDED", output
    assert calls == ["PromoteFunction", "PromoteFunction", "NotifyFunction"]  # Retry, then on
    assert output["promotion"]["version"] == 1
    assert check_versions(aws, {run.run_id: run})["versions"] == {1: run.run_id}
    promoted = [s for s in mail_subjects(run.run_id) if "promoted" in s]
    assert len(promoted) == 1 and "model v1" in promoted[0]


def _fail_calls(services: tuple[str, ...], error: Callable[[int, str], BaseException | None]):
    """Before each AWS call of the handlers' clients, ``error(n, event)`` may return an
    exception to raise (n counts the calls). Returns a function that removes the hook."""
    count = {"n": 0}

    def hook(event_name: str, **_: Any) -> None:
        count["n"] += 1
        exc = error(count["n"], event_name)
        if exc is not None:
            raise exc

    for service in services:
        client(service).meta.events.register_first(f"before-call.{service}", hook)

    def remove() -> None:
        for service in services:
            client(service).meta.events.unregister(f"before-call.{service}", hook)

    return remove


def test_a_crash_at_the_registry_write_registers_nothing_and_emails(aws, state_machine, fits):
    """A bug (not retried) when the registry is written, every file already written: the
    execution fails with the failure email, no version, no champion, no run marker; running
    the same run again later promotes it cleanly over the files left behind."""
    (run,) = materialize(fits, aws, "crash")
    _promote_module(aws, state_machine)
    writes = ("TransactWriteItems", "PutItem", "UpdateItem")

    def crash(n: int, event: str) -> BaseException | None:
        if event.rsplit(".", 1)[-1] in writes:
            return RuntimeError("crashed at the registry write")
        return None

    remove = _fail_calls(("dynamodb",), crash)
    status, _, calls = state_machine("Promote", run.state)
    remove()
    assert status == "FAILED"
    assert calls == ["PromoteFunction", "NotifyFunction"]  # Catch -> NotifyFailure
    assert _versions(aws) == []  # nothing half-registered
    failed = [s for s in mail_subjects(run.run_id) if "failed" in s]
    assert len(failed) == 1 and "Promote" in failed[0]
    status, output, _ = state_machine("Promote", run.state)
    assert status == "SUCCEEDED" and output["promotion"]["version"] == 1
    assert check_versions(aws, {run.run_id: run})["versions"] == {1: run.run_id}


def test_a_worker_killed_at_any_step_of_promote_leaves_nothing_half_done(aws, load_handler, fits):
    """Kill the Promote worker before its 1st, 2nd, ... AWS call, then run it again (what the
    state machine's Retry does): after the kill the run is either not registered at all or
    registered whole (version and champion together); after the retry it has exactly one
    complete version and is the champion."""
    promote = load_handler("PromoteFunction").lambda_handler
    runs: dict[str, Any] = {}
    step, steps = 1, None
    while steps is None or step <= steps:
        (run,) = materialize(fits, aws, f"kill{step}")
        runs[run.run_id] = run
        mine_only = {run.run_id}
        before = check_versions(aws, runs, files_of=mine_only)
        remove = _fail_calls(
            ("s3", "dynamodb"),
            lambda n, _e, step=step: WorkerKilled(f"killed at call {n}") if n == step else None,
        )
        try:
            promote(copy.deepcopy(run.state), Context())
            steps = step - 1 if steps is None else steps  # finished before call ``step``
        except WorkerKilled:
            pass
        finally:
            remove()
        after = check_versions(aws, runs, files_of=mine_only)  # whole versions; champion newest
        added = set(after["versions"]) - set(before["versions"])
        assert added in (set(), {after["champion"]}), (step, before, after)
        promote(copy.deepcopy(run.state), Context())  # the retry
        final = check_versions(aws, runs, files_of=mine_only)
        mine = [v for v, r in final["versions"].items() if r == run.run_id]
        assert len(mine) == 1 and final["champion"] == mine[0], (step, final)
        step += 1
    assert steps is not None and steps >= 15  # every AWS call of a promotion was a kill point
    check_versions(aws, runs)
    print(f"\nKILLED: Promote killed before each of its {steps} AWS calls, then retried")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


THROTTLES = {
    "dynamodb": (
        400,
        {"x-amzn-RequestId": "t"},
        b'{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
        b' "message": "The level of configured provisioned throughput for the table was exceeded"}',
    ),
    "s3": (
        503,
        {"x-amz-request-id": "t"},
        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
        b"<Message>Please reduce your request rate.</Message></Error>",
    ),
}


def tries(service: str) -> int:
    """How many times botocore sends a request before giving up (the adapters' config)."""
    return int(client(service).meta.config.retries["total_max_attempts"])


def throttle(service: str, operation: str, times: int) -> dict[str, int]:
    """The next ``times`` calls of ``operation`` by the handlers' ``service`` client are
    throttled, as AWS answers them; counts what was injected."""
    status, headers, body = THROTTLES[service]
    seen = {"throttled": 0, "calls": 0}

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        seen["calls"] += 1
        if seen["throttled"] >= times:
            return None
        seen["throttled"] += 1
        return AWSResponse(request.url, status, headers, _Raw(body))

    client(service).meta.events.register_first(f"before-send.{service}.{operation}", hook)
    return seen


def test_throttling_is_retried_by_botocore_then_by_the_state_machine(aws, state_machine, fits):
    (run,) = materialize(fits, aws, "throttled")
    _promote_module(aws, state_machine)  # the handler's clients exist before the hooks
    reads = throttle("dynamodb", "GetItem", 2)  # absorbed by botocore's own retries
    puts = throttle("s3", "PutObject", 2)
    # as often as botocore tries: the task fails with TransientError, ASL retries it
    writes = throttle("dynamodb", "TransactWriteItems", tries("dynamodb"))
    status, output, calls = state_machine("Promote", run.state)
    assert status == "SUCCEEDED", output
    assert reads["throttled"] == 2 and puts["throttled"] == 2
    assert writes["throttled"] == tries("dynamodb") == 4
    assert calls == ["PromoteFunction", "PromoteFunction", "NotifyFunction"]
    retried = next(
        r for r in ASL["States"]["Promote"]["Retry"] if "TransientError" in r["ErrorEquals"]
    )
    assert retried["MaxAttempts"] >= 1
    assert check_versions(aws, {run.run_id: run})["versions"] == {1: run.run_id}


def test_adapters_name_throttling_transient_for_the_state_machine(aws):
    from tabflow.adapters.dynamodb import DynamoRegistry
    from tabflow.adapters.s3 import S3Store

    throttle("dynamodb", "Query", tries("dynamodb"))
    with pytest.raises(TransientError, match="ProvisionedThroughputExceeded"):
        DynamoRegistry(aws.ref("RegistryTable")).latest_version("telco_churn")
    throttle("s3", "GetObject", tries("s3"))
    with pytest.raises(TransientError, match="SlowDown"):
        S3Store().get(f"s3://{aws.ref('ModelBucket')}/anything")
    # every task the state machine runs retries TransientError
    tasks = [s for s in ASL["States"].values() if s["Type"] == "Task" and "Resource" in s]
    for state in tasks:
        if state["Resource"].startswith("arn:aws:states:::batch"):
            continue
        assert any(
            "TransientError" in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"]
            for r in state.get("Retry", [])
        ), state["Resource"]


def test_a_throttled_registry_at_a_cold_start_is_a_503_not_a_502(aws, load_handler, fits):
    (run,) = materialize(fits, aws, "cold")
    load_handler("PromoteFunction").lambda_handler(copy.deepcopy(run.state), Context())
    throttle("dynamodb", "GetItem", 10**6)
    predict = load_handler("PredictFunction")  # the preload fails quietly
    resp = predict.lambda_handler(
        api_event(
            "POST",
            "/v1/datasets/telco_churn/predict",
            "/v1/datasets/{dataset}/predict",
            {"dataset": "telco_churn"},
            json.dumps(TELCO_RECORD),
        ),
        Context(),
    )
    assert resp["statusCode"] == 503 and "retry" in json.loads(resp["body"])["message"]


def test_the_same_s3_events_twice_and_out_of_order(aws, load_handler, telco_csv):
    """Two files of one dataset, their events delivered newest first, then both again: each
    file is processed once (two runs, two executions), the repeats return the first result."""
    ingest = load_handler("IngestFunction")
    raw = aws.ref("RawBucket")
    lines = telco_csv.splitlines()
    first = b"\n".join(lines[:301]) + b"\n"
    second = b"\n".join([lines[0], *lines[301:601]]) + b"\n"
    ev_first = put(raw, "incoming/telco_churn/monday.csv", first)
    ev_second = put(raw, "incoming/telco_churn/tuesday.csv", second)
    outcomes = [
        ingest.lambda_handler(ev, Context())["files"][0]
        for ev in (ev_second, ev_first, ev_second, ev_first)
    ]
    assert [o["status"] for o in outcomes] == ["accepted"] * 4
    assert outcomes[2] == outcomes[0] and outcomes[3] == outcomes[1]  # stored results
    assert outcomes[0]["run_id"] != outcomes[1]["run_id"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    runs = sfn.list_executions(stateMachineArn=aws.ref("TrainingStateMachine"))["executions"]
    assert sorted(r["name"] for r in runs) == sorted(o["run_id"] for o in outcomes[:2])


def test_an_overwritten_key_with_events_out_of_order_processes_each_version(
    aws, load_handler, telco_csv
):
    ingest = load_handler("IngestFunction")
    raw = aws.ref("RawBucket")
    lines = telco_csv.splitlines()
    first = b"\n".join(lines[:301]) + b"\n"
    second = b"\n".join([lines[0], *lines[301:501]]) + b"\n"
    ev_first = put(raw, "incoming/telco_churn/export.csv", first)
    ev_second = put(raw, "incoming/telco_churn/export.csv", second)
    late = ingest.lambda_handler(ev_second, Context())["files"][0]
    early = ingest.lambda_handler(ev_first, Context())["files"][0]
    assert late["counts"]["curated"] == 200
    # the first upload's event must not be answered with the second upload's rows
    assert early["status"] == "skipped" or early["counts"]["curated"] == 300
