"""Shared fixtures: paths, the demo dataset, and an isolated AWS environment for every test."""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

# LightGBM's OpenMP threads spin while they wait; on a loaded 2-core machine that costs a
# cross-validation 120 s of wall time instead of 0.6 s. Set before lightgbm loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
EVENTS = Path(__file__).resolve().parent / "events"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account or read the developer's credentials."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session")
def telco_csv() -> bytes:
    return (DATASETS / "telco_churn.csv").read_bytes()


@pytest.fixture(scope="session")
def telco_contract_text() -> str:
    return (DATASETS / "telco_churn.yaml").read_text()


@dataclass
class Context:
    function_name: str = "test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
