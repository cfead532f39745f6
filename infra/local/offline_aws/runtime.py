"""Runs Lambda handlers in worker processes, like the Lambda service runs them in sandboxes.

Each function gets a small pool of warm workers (cold start once, then reused), its own
environment variables from the template, and a timeout. Handler errors are returned as
Lambda does ({"errorType", "errorMessage"}), printed, and written to .local/logs/."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass
class FunctionSpec:
    name: str
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int = 60
    memory: int = 128
    arn: str = ""
    # Asynchronous invocations (S3 notifications): retried this many times after a failure,
    # then the event goes to the dead-letter queue and the record to the on-failure
    # destination, when the template configures them (DeadLetterQueue, EventInvokeConfig).
    max_retry_attempts: int = 2
    dead_letter_arn: str = ""
    on_failure_arn: str = ""


@dataclass
class Invocation:
    payload: Any
    errored: bool
    logs: str
    duration_ms: float


class _Worker:
    def __init__(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        log: TextIO,
        echo: bool,
        log_lock: threading.Lock,
    ) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "offline_aws.worker", str(spec.code_dir), spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._pump = threading.Thread(
            target=self._read_logs, args=(log, echo, log_lock), daemon=True
        )
        self._pump.start()
        ready = self.proc.stdout.readline() if self.proc.stdout else ""
        if not ready:
            raise RuntimeError(f"{spec.name}: worker exited during start ({self.proc.wait()})")
        self.init_seconds = json.loads(ready).get("init_seconds")

    def _read_logs(self, log: TextIO, echo: bool, lock: threading.Lock) -> None:
        assert self.proc.stderr
        for line in self.proc.stderr:
            self.lines.append(line)
            with lock:
                log.write(line)
                log.flush()
            if echo:
                sys.stderr.write(f"[{self.spec.logical_id}] {line}")

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """None when the worker did not answer in time (it is then killed)."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        result: list[str] = []
        reader = threading.Thread(
            target=lambda: result.append(self.proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(timeout)
        if not result:
            self.proc.kill()
            return None
        if not result[0]:
            return {
                "ok": False,
                "errorType": "Runtime.ExitError",
                "errorMessage": f"worker exited with {self.proc.wait()}",
            }
        return json.loads(result[0])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


@dataclass
class _Pool:
    idle: list[_Worker] = field(default_factory=list)
    busy: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)


class LambdaRuntime:
    def __init__(
        self,
        base_env: dict[str, str],
        log_dir: Path,
        *,
        echo_logs: bool = False,
        max_concurrency: int = 4,
    ) -> None:
        self.base_env = base_env
        self.log_dir = log_dir
        self.echo_logs = echo_logs
        self.max_concurrency = max_concurrency
        self.functions: dict[str, FunctionSpec] = {}
        self._pools: dict[str, _Pool] = {}
        self._logs: dict[str, TextIO] = {}
        self._log_lock = threading.Lock()
        self.errors: list[dict[str, Any]] = []  # every failed invocation, for tests and the console
        log_dir.mkdir(parents=True, exist_ok=True)

    def register(self, spec: FunctionSpec) -> None:
        self.functions[spec.name] = spec
        self._pools[spec.name] = _Pool()

    def invoke(self, name: str, event: Any, request_id: str | None = None) -> Invocation:
        spec = self.functions[name]
        pool = self._pools[name]
        worker = self._acquire(spec, pool)
        request_id = request_id or str(uuid.uuid4())
        start = time.perf_counter()
        n_lines = len(worker.lines)
        reply = worker.call(
            {
                "event": event,
                "request_id": request_id,
                "timeout": spec.timeout,
                "function_arn": spec.arn,
            },
            timeout=spec.timeout,
        )
        duration = (time.perf_counter() - start) * 1000
        logs = "".join(worker.lines[n_lines:])
        self._release(pool, worker)
        if reply is None:
            reply = {
                "ok": False,
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {spec.timeout} seconds",
            }
        if reply.get("ok"):
            return Invocation(reply.get("result"), False, logs, duration)
        payload = {k: reply[k] for k in ("errorType", "errorMessage", "stackTrace") if k in reply}
        self.errors.append({"function": spec.logical_id, "request_id": request_id, **payload})
        sys.stderr.write(
            f"\n!! {spec.logical_id} failed: {payload.get('errorType')}: {payload.get('errorMessage')}\n"
            f"   (full trace in {self.log_dir / (spec.logical_id + '.log')})\n"
        )
        return Invocation(payload, True, logs, duration)

    def _acquire(self, spec: FunctionSpec, pool: _Pool) -> _Worker:
        with pool.cond:
            while True:
                while pool.idle:
                    worker = pool.idle.pop()
                    if worker.alive():
                        pool.busy += 1
                        return worker
                if pool.busy < self.max_concurrency:
                    pool.busy += 1
                    break
                pool.cond.wait()
        try:
            return _Worker(spec, self._env(spec), self._log(spec), self.echo_logs, self._log_lock)
        except Exception:
            with pool.cond:
                pool.busy -= 1
                pool.cond.notify()
            raise

    def _release(self, pool: _Pool, worker: _Worker) -> None:
        with pool.cond:
            pool.busy -= 1
            if worker.alive():
                pool.idle.append(worker)
            pool.cond.notify()

    def _env(self, spec: FunctionSpec) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(spec.environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            }
        )
        return env

    def _log(self, spec: FunctionSpec) -> TextIO:
        if spec.name not in self._logs:
            self._logs[spec.name] = open(self.log_dir / f"{spec.logical_id}.log", "a")  # noqa: SIM115
        return self._logs[spec.name]

    def shutdown(self) -> None:
        for pool in self._pools.values():
            with pool.cond:
                for worker in pool.idle:
                    worker.stop()
                pool.idle.clear()
        for fh in self._logs.values():
            fh.close()


def worker_base_env(endpoint: str, region: str) -> dict[str, str]:
    """What every worker gets: the offline endpoint and dummy credentials, nothing of the
    developer's real AWS configuration."""
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OMP_NUM_THREADS",
    )
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
