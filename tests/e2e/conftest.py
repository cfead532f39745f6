"""The local stack, started once per session on free ports, as `make local` runs it."""

import time

import pytest

from offline_aws.stack import OfflineStack
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    state = tmp_path_factory.mktemp("offline-aws")
    with OfflineStack(ROOT, stack_name="tabflow-e2e", state_dir=state) as running:
        yield running


def wait_for_executions(stack: OfflineStack, count: int, timeout: float = 240) -> list[dict]:
    """The newest ``count`` executions, once none of them is running."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sfn.list_executions(stateMachineArn=stack.ref("TrainingStateMachine"))["executions"]
        if len(runs) >= count and all(r["status"] != "RUNNING" for r in runs):
            return [sfn.describe_execution(executionArn=r["executionArn"]) for r in runs]
        time.sleep(0.3)
    raise TimeoutError(f"expected {count} finished executions")
