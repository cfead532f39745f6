"""`make local` as a user runs it: the server in the foreground, the aws CLI against it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offline_aws.stack import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
AWS = str(Path(sys.executable).parent / "aws")


@pytest.mark.parametrize("engine", ["lambda", "batch"])
def test_aws_cli_upload_starts_an_execution_that_succeeds(tmp_path, engine):
    """With TrainingEngine=batch the same upload trains through AWS Batch jobs (run locally
    as processes of the training image's command), the scale path's state-machine variant."""
    port, api_port = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "offline_aws",
            "serve",
            "--port",
            str(port),
            "--api-port",
            str(api_port),
            "--state-dir",
            str(tmp_path),
            "--quiet",
            "--parameter",
            f"TrainingEngine={engine}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    endpoint = f"http://127.0.0.1:{port}"

    def aws(*args: str) -> str:
        return subprocess.run(
            [AWS, "--endpoint-url", endpoint, *args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout

    try:
        banner = ""
        while "Ctrl-C stops it." not in banner:
            line = server.stdout.readline()
            assert line, f"the server stopped: {banner}"
            banner += line
        assert endpoint in banner and f"127.0.0.1:{api_port}" in banner
        state = json.loads((tmp_path / "stack.json").read_text())
        raw = state["resources"]["RawBucket"]
        machine = state["resources"]["TrainingStateMachine"]
        aws(
            "s3",
            "cp",
            str(ROOT / "datasets" / "telco_churn.csv"),
            f"s3://{raw}/incoming/telco_churn/",
        )
        deadline = time.monotonic() + 240
        runs: list = []
        while time.monotonic() < deadline:
            runs = json.loads(
                aws("stepfunctions", "list-executions", "--state-machine-arn", machine)
            )["executions"]
            if runs and runs[0]["status"] != "RUNNING":
                break
            time.sleep(0.5)
        assert [r["status"] for r in runs] == ["SUCCEEDED"]
        output = json.loads(
            aws("stepfunctions", "describe-execution", "--execution-arn", runs[0]["executionArn"])
        )["output"]
        assert json.loads(output)["prepare"]["engine"] == engine
        assert json.loads(output)["promotion"]["version"] == 1  # gated and promoted
        if engine == "batch":
            queue = state["resources"]["TrainingJobQueue"]
            jobs = json.loads(
                aws("batch", "list-jobs", "--job-queue", queue, "--job-status", "SUCCEEDED")
            )["jobSummaryList"]
            names = sorted(j["jobName"].rsplit("-", 1)[-1] for j in jobs)
            trials = len(json.loads(output)["prepare"]["trials"])
            assert names == sorted(["lightgbm", "linear", *map(str, range(trials))])
            (job,) = json.loads(
                aws("batch", "describe-jobs", "--jobs", next(j["jobId"] for j in jobs))
            )["jobs"]
            assert job["container"]["command"][:3] == ["python", "-m", "tabflow.container_jobs"]
        else:
            assert "TrainingJobQueue" not in state["resources"]
        env_file = subprocess.run(
            [sys.executable, "-m", "offline_aws", "env-vars", "--state-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert env_file.returncode == 0, env_file.stderr
        env_vars = json.loads(env_file.stdout)
        assert (
            env_vars["IngestFunction"]["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{port}"
        )
        assert env_vars["IngestFunction"]["RAW_BUCKET"] == raw
        fired = subprocess.run(
            [
                sys.executable,
                "-m",
                "offline_aws",
                "fire",
                "MonitorFunction",
                "--state-dir",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert fired.returncode == 0, fired.stderr
        assert json.loads(fired.stdout)["datasets"][0]["status"] == "insufficient_data"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
