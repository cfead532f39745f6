"""Every change the offline AWS makes to moto's internals, in one place.

moto is pinned to one minor version (pyproject.toml) because these patches reach into its
private classes. ``check()`` verifies that each patched attribute still exists with the
signature it is written against; a test calls it, so a moto upgrade that moves one of them
fails loudly and names the patch, instead of an offline stack that silently swallows errors.

The patches:
- lambda-invoke: moto runs Lambda invocations (Step Functions tasks included) in Docker; they
  run in our runtime instead (``host.runtime.invoke``).
- s3-notifications: moto calls the function synchronously inside PutObject and swallows its
  errors; AWS invokes asynchronously with retries and a dead-letter queue
  (``host.invoke_async``).
- batch-job-run: moto runs Batch jobs in Docker; they run as local processes
  (``host.run_batch_job``).
- batch-task-casing: moto's Step Functions interpreter passes a Batch task's Parameters to
  boto3 as written (JobName) where Step Functions maps them to the API's casing (jobName) and
  back; its own helpers for that mapping exist but are not called.
- s3-event-version: AWS puts the object's ``versionId`` in the event when the bucket is
  versioned (the handlers read that exact version); moto leaves it out.
- ses-outbox: every sent email is also written to the outbox folder (``on_email``).
- dynamodb-atomic: DynamoDB applies each request atomically; moto's threaded server does not
  (a transaction that fails restores a copy of the whole table taken when it started, undoing
  what other requests wrote meanwhile). One request at a time, as conditional writes and
  transactions assume; DynamoDB requests never call back into the stack, so no deadlock.
"""

import importlib
import inspect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Host(Protocol):
    """What the patches call: the running offline stack."""

    runtime: Any  # offline_aws.runtime.LambdaRuntime

    def invoke_async(self, function: str, event: Any) -> Any: ...

    def run_batch_job(self, job: Any) -> None: ...


@dataclass(frozen=True)
class Target:
    patch: str  # the patch's name, as in the module docstring
    module: str
    attribute: str  # "Class.method" or "function"
    parameters: tuple[str, ...]  # the signature the patch is written against


TARGETS = (
    Target(
        "lambda-invoke",
        "moto.awslambda.models",
        "LambdaFunction._invoke_lambda",
        ("self", "event"),
    ),
    Target(
        "s3-notifications",
        "moto.s3.notifications",
        "_invoke_awslambda",
        ("account_id", "event_body", "fn_arn", "region_name"),
    ),
    Target(
        "s3-event-version",
        "moto.s3.notifications",
        "_get_s3_event",
        ("event_name", "bucket", "key", "notification_id"),
    ),
    Target("batch-job-run", "moto.batch.models", "Job.run", ("self",)),
    Target(
        "batch-task-casing",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_batch",
        "StateTaskServiceBatch._normalise_parameters",
        ("self", "parameters", "boto_service_name", "service_action_name"),
    ),
    Target(
        "batch-task-casing",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
        "state_task_service_batch",
        "StateTaskServiceBatch._normalise_response",
        ("self", "response", "boto_service_name", "service_action_name"),
    ),
    Target(
        "ses-outbox",
        "moto.ses.models",
        "SESBackend.send_raw_email",
        ("self", "source", "destinations", "raw_data"),
    ),
    Target("dynamodb-atomic", "moto.dynamodb.responses", "DynamoHandler.call_action", ("self",)),
)


def _resolve(target: Target) -> tuple[Any, str, Any]:
    """(owner, name, current value) of a target."""
    owner: Any = importlib.import_module(target.module)
    *path, name = target.attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name, getattr(owner, name)


def check() -> list[str]:
    """The patches whose moto internals moved or changed shape (empty when all fit)."""
    problems = []
    for target in TARGETS:
        where = f"{target.module}.{target.attribute}"
        try:
            _, _, current = _resolve(target)
        except (ImportError, AttributeError) as exc:
            problems.append(f"patch {target.patch!r}: {where} is gone ({exc})")
            continue
        original = getattr(current, "__wrapped__", current)
        found = tuple(inspect.signature(original).parameters)
        if found != target.parameters:
            problems.append(
                f"patch {target.patch!r}: {where} takes {found}, the patch expects "
                f"{target.parameters}"
            )
    return problems


_installed = False


def with_version_id(original: Callable[..., dict]) -> Callable[..., dict]:
    """moto's S3 event builder, adding the object's versionId as AWS does for a versioned
    bucket (not for an unversioned or suspended one: their version is "null")."""

    def _get_s3_event(event_name: Any, bucket: Any, key: Any, notification_id: str) -> dict:
        event = original(event_name, bucket, key, notification_id)
        version = getattr(key, "version_id", None)
        if getattr(bucket, "is_versioned", False) and version and version != "null":
            for record in event.get("Records", []):
                record["s3"]["object"]["versionId"] = version
        return event

    return _get_s3_event


def install(host: Callable[[], Host | None], on_email: Callable[[bytes], None]) -> None:
    """Apply every patch once per process. ``host`` returns the running stack (or None)."""
    global _installed
    if _installed:
        return
    problems = check()
    if problems:
        raise RuntimeError("moto's internals changed:\n" + "\n".join(problems))
    import botocore.session
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        self.logs_backend.ensure_log_group(self.logs_group_name)
        running = host()
        if running is None:
            error = {"errorType": "Runtime.Unavailable", "errorMessage": "no offline stack"}
            return json.dumps(error), True, ""
        result = running.runtime.invoke(self.function_name, event if event is not None else {})
        return json.dumps(result.payload, default=str), result.errored, result.logs

    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        running = host()
        if running is not None:
            running.invoke_async(fn_arn.split(":")[6], event_body)

    def _run_batch_job(self: Any) -> None:
        running = host()
        if running is None:
            self._mark_stopped(success=False)
            return
        running.run_batch_job(self)

    model = botocore.session.get_session().get_service_model("batch")
    operations = {camel_to_snake_case(name): name for name in model.operation_names}

    def _operation(task: Any, action: str | None) -> Any:
        return model.operation_model(operations[task._get_boto_service_action(action)])

    def _normalise_parameters(
        self: Any, parameters: dict, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        self._to_boto_request(parameters, _operation(self, service_action_name).input_shape)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        self._from_boto_response(response, _operation(self, service_action_name).output_shape)

    def _wrap_send_raw_email(original: Callable[..., Any]) -> Callable[..., Any]:
        def send_raw_email(self: Any, source: Any, destinations: Any, raw_data: bytes) -> Any:
            message = original(self, source, destinations, raw_data)
            on_email(raw_data)
            return message

        return send_raw_email

    lock = threading.Lock()

    def _atomic(call_action: Callable[..., Any]) -> Callable[..., Any]:
        def call_action_atomically(self: Any) -> Any:
            with lock:
                return call_action(self)

        return call_action_atomically

    replacements: dict[str, Callable[[Any], Any]] = {
        "LambdaFunction._invoke_lambda": lambda _: _invoke_lambda,
        "_invoke_awslambda": lambda _: _invoke_awslambda,
        "_get_s3_event": with_version_id,
        "Job.run": lambda _: _run_batch_job,
        "StateTaskServiceBatch._normalise_parameters": lambda _: _normalise_parameters,
        "StateTaskServiceBatch._normalise_response": lambda _: _normalise_response,
        "SESBackend.send_raw_email": _wrap_send_raw_email,
        "DynamoHandler.call_action": _atomic,
    }
    for target in TARGETS:
        owner, name, current = _resolve(target)
        replacement = replacements[target.attribute](current)
        replacement.__wrapped__ = current  # check() reads the original's signature
        setattr(owner, name, replacement)
    _installed = True
