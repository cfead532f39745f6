"""Notify: the email that ends a run (model promoted, rejected, or the run failed)."""

import contextlib
import json
from typing import Any

from tabflow import emails
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore
from tabflow.workflow.common import load_contract
from tabflow.workflow.payloads import Json, NotifyInput, NotifyOutput, TaskError


def notify(
    event: NotifyInput | Json, *, store: ObjectStore, mailer: Mailer, recipients: list[str]
) -> NotifyOutput:
    event = NotifyInput.of(event)
    kind, run = event.kind, event.run
    dataset, run_id = run.dataset, run.run_id
    try:
        contract = load_contract(store, run.contract_uri or "")
        recipients = contract.notify or recipients
    except Exception:  # the failure being reported may be the contract itself
        pass
    if kind == "promoted":
        ev, pr = _need(run.evaluation, "evaluation"), _need(run.promotion, "promotion")
        email = emails.model_promoted(dataset, ev, pr)
    elif kind == "rejected":
        email = emails.model_rejected(dataset, run_id, _need(run.evaluation, "evaluation"))
    elif kind == "failed":
        err = run.error or TaskError()
        cause: Any = err.Cause
        with contextlib.suppress(ValueError, AttributeError):  # Lambda errors: JSON in Cause
            cause = json.loads(cause).get("errorMessage", cause)
        email = emails.run_failed(
            dataset,
            run_id,
            run.failed_step or "unknown",
            err.Error,
            str(cause),
        )
    else:
        raise ValueError(f"unknown notification kind {kind!r}")
    message_id = mailer.send(email, recipients)
    logger.info(
        "notification sent",
        extra={"dataset": dataset, "run_id": run_id, "kind": kind, "subject": email.subject},
    )
    return NotifyOutput(message_id=message_id, subject=email.subject)


def _need[T](value: T | None, name: str) -> T:
    if value is None:
        raise ValueError(f"a notification of this kind needs the run's {name}")
    return value
