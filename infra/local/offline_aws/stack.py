"""The offline stack: moto server + the template deployed into it + Lambda runtime + local
API gateway + scheduler + SES outbox, all on 127.0.0.1."""

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from offline_aws import moto_patches, outbox
from offline_aws.deploy import Deployment, Schedule, deploy
from offline_aws.failures import invoke_with_retries
from offline_aws.gateway import LocalGateway
from offline_aws.runtime import Invocation, LambdaRuntime, worker_base_env
from offline_aws.scheduler import Scheduler, scheduled_event
from offline_aws.template import REGION

_current: "OfflineStack | None" = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OfflineStack:
    def __init__(
        self,
        root: Path,
        *,
        moto_port: int = 0,
        api_port: int = 0,
        stack_name: str = "tabflow-local",
        state_dir: Path | None = None,
        echo_logs: bool = False,
        parameters: dict[str, str] | None = None,
        run_scheduler: bool = True,
        api_keys: set[str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.moto_port = moto_port or free_port()
        self.api_port = api_port
        self.stack_name = stack_name
        self.state_dir = state_dir or self.root / ".local"
        self.echo_logs = echo_logs
        self.parameters = parameters or {}
        self.run_scheduler = run_scheduler
        # The API key clients must send (x-api-key), as a usage plan's key on API Gateway.
        self.api_key = os.environ.get("TABFLOW_API_KEY") or secrets.token_urlsafe(24)
        self.api_keys = api_keys or {self.api_key}
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.runtime = LambdaRuntime(
            worker_base_env(self.endpoint, REGION), self.state_dir / "logs", echo_logs=echo_logs
        )
        self._async = ThreadPoolExecutor(max_workers=4, thread_name_prefix="async-invoke")
        self.async_retry_delay = 1.0  # seconds before the first retry (then 2x, as on AWS)
        self._pending: list[Future[Invocation]] = []
        self._pending_lock = threading.Lock()
        self.deployment: Deployment | None = None
        self.gateway: LocalGateway | None = None
        self.scheduler: Scheduler | None = None
        self._server: Any = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "OfflineStack":
        global _current
        if _current is not None:
            raise RuntimeError("an offline stack is already running in this process")
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        os.environ["MOTO_PORT"] = str(self.moto_port)  # moto's Step Functions calls Lambda here
        moto_patches.install(lambda: _current, outbox.write)
        outbox.install(self.state_dir / "outbox")
        self._server = ThreadedMotoServer(
            ip_address="127.0.0.1", port=self.moto_port, verbose=False
        )
        self._server.start()
        _current = self
        requests.post(
            f"{self.endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()
        self.deployment = deploy(
            self.root, self.stack_name, self.client, self.parameters | self._batch_network()
        )
        for spec in self.deployment.functions.values():
            self.runtime.register(spec)
        self.gateway = LocalGateway(
            self.deployment.routes,
            self.deployment.stages,
            self._invoke_sync,
            self.api_port,
            api_keys=self.api_keys,
        )
        self.gateway.start()
        self.api_port = self.gateway.port
        if self.run_scheduler and self.deployment.schedules:
            self.scheduler = Scheduler(self.deployment.schedules, self._fire_schedule)
            self.scheduler.start()
        self.upload_contracts()
        self._write_state()
        return self

    def stop(self) -> None:
        global _current
        if self.scheduler:
            self.scheduler.stop()
        if self.gateway:
            self.gateway.stop()
        self._async.shutdown(wait=False, cancel_futures=True)
        self.runtime.shutdown()
        if self._server:
            self._server.stop()
        _current = None

    def __enter__(self) -> "OfflineStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ AWS Batch
    def _batch_network(self) -> dict[str, str]:
        """With TrainingEngine batch or auto, the Fargate compute environment needs subnets and
        security groups: the offline AWS's default VPC ones, unless given."""
        if self.parameters.get("TrainingEngine", "lambda") == "lambda":
            return {}
        ec2 = self.client("ec2")
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["default"]}]
        )
        defaults = {
            "TrainingSubnets": ",".join(s["SubnetId"] for s in subnets["Subnets"][:2]),
            "TrainingSecurityGroups": groups["SecurityGroups"][0]["GroupId"],
            "TrainingImage": "tabflow-training:local",
        }
        return {k: v for k, v in defaults.items() if not self.parameters.get(k)}

    def run_batch_job(self, job: Any) -> None:
        """A Batch job of the training image, run the way its container would: the job
        definition's command (with the submission's overrides) and environment, against the
        offline endpoint. The code is this checkout's tabflow, which is what the image holds."""
        for _ in range(4):  # SUBMITTED -> PENDING -> RUNNABLE -> STARTING -> RUNNING
            job.advance()
            _ = job.status
        job.job_started_at = datetime.now()
        job._start_attempt()
        command = list(job._get_container_property("command", []))
        env = {e["name"]: e["value"] for e in job._get_container_property("environment", [])}
        if command[:1] == ["python"]:
            command[0] = sys.executable
        log = self.state_dir / "logs" / f"batch-{job.job_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.write(f">> batch job {job.job_name}: {' '.join(command[1:])}\n")
        with open(log, "w") as out:
            try:
                returncode = subprocess.run(
                    command,
                    env=self.runtime.base_env | env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=job._get_attempt_duration(),  # the job definition's Timeout
                ).returncode
            except subprocess.TimeoutExpired:
                returncode = -9
        job.exit_code = returncode
        if returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            job.job_stopped_reason = f"exit {returncode}: {tail[0][:500]} (log: {log})"
            sys.stderr.write(f">> batch job {job.job_name} FAILED: {job.job_stopped_reason}\n")
        job._mark_stopped(success=returncode == 0)

    # ------------------------------------------------------------------ helpers
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 2}, read_timeout=900),
        )

    def ref(self, logical: str) -> str:
        assert self.deployment
        return self.deployment.ref(logical)

    def upload_contracts(self) -> list[str]:
        """Sync datasets/*.yaml to the raw bucket's contracts/ (what a user does with `aws s3 cp`)."""
        s3 = self.client("s3")
        names = []
        for path in sorted((self.root / "datasets").glob("*.yaml")):
            s3.put_object(
                Bucket=self.ref("RawBucket"), Key=f"contracts/{path.name}", Body=path.read_bytes()
            )
            names.append(path.stem)
        return names

    def _invoke_sync(self, function: str, event: dict[str, Any]) -> tuple[Any, bool]:
        result = self.runtime.invoke(function, event)
        return result.payload, result.errored

    def invoke_async(self, function: str, event: Any) -> Future[Invocation]:
        """An asynchronous invocation (what S3 notifications make), with Lambda's handling of
        failures: retried ``max_retry_attempts`` times (the template's EventInvokeConfig,
        default 2), then the event goes to the dead-letter queue and the invocation record to
        the on-failure destination, when configured."""
        future = self._async.submit(self._invoke_with_retries, function, event)
        with self._pending_lock:
            self._pending.append(future)
        return future

    def _invoke_with_retries(self, function: str, event: Any) -> Invocation:
        return invoke_with_retries(
            self.runtime,
            function,
            event,
            retry_delay=self.async_retry_delay,
            sqs=lambda: self.client("sqs"),
            invoke_async=self.invoke_async,
        )

    def wait_idle(self, timeout: float = 300) -> None:
        """Wait for asynchronous invocations (S3-triggered) to finish."""
        deadline = time.monotonic() + timeout
        while True:
            with self._pending_lock:
                self._pending = [f for f in self._pending if not f.done()]
                pending = list(self._pending)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} asynchronous invocations still running")
            pending[0].result(timeout=max(0.1, deadline - time.monotonic()))

    def _fire_schedule(self, schedule: Schedule) -> Invocation:
        sys.stderr.write(f">> schedule {schedule.rule} ({schedule.expression}) fired\n")
        return self.runtime.invoke(
            schedule.function, schedule.payload or scheduled_event(schedule.rule)
        )

    def fire(self, logical_id: str) -> Invocation:
        """Run a scheduled function now, with the event EventBridge would send plus
        "force": true (a person asked for it: checks that are not due run anyway)."""
        assert self.deployment
        for s in self.deployment.schedules:
            if self.deployment.functions[s.function].logical_id == logical_id:
                sys.stderr.write(f">> {logical_id} fired on demand\n")
                event = (s.payload or scheduled_event(s.rule)) | {"force": True}
                return self.runtime.invoke(s.function, event)
        raise KeyError(f"{logical_id} has no Schedule event")

    def _write_state(self) -> None:
        assert self.deployment
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint,
            "api_url": self.api_url,
            "api_key": self.api_key,
            "region": REGION,
            "stack_name": self.stack_name,
            "pid": os.getpid(),
            "resources": dict(self.deployment.resolver.refs),
            "functions": {s.logical_id: s.name for s in self.deployment.functions.values()},
            "schedules": [
                {"function": s.function, "expression": s.expression, "rule": s.rule}
                for s in self.deployment.schedules
            ],
            "routes": [f"{r.method} {r.path}" for r in self.deployment.routes],
            "skipped": self.deployment.skipped,
        }
        (self.state_dir / "stack.json").write_text(json.dumps(state, indent=1))
