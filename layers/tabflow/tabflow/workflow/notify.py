"""Notify: the email that ends a run (model promoted, rejected, or the run failed)."""

import contextlib
import json
from typing import Any

from tabflow import emails
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore
from tabflow.workflow.common import load_contract


def notify(
    event: dict[str, Any], *, store: ObjectStore, mailer: Mailer, recipients: list[str]
) -> dict[str, Any]:
    kind, run = event["kind"], event["run"]
    dataset, run_id = run.get("dataset", "?"), run.get("run_id", "?")
    try:
        contract = load_contract(store, run["contract_uri"])
        recipients = contract.notify or recipients
    except Exception:  # the failure being reported may be the contract itself
        pass
    if kind == "promoted":
        ev, pr = run["evaluation"], run["promotion"]
        email = emails.model_promoted(
            dataset,
            pr["version"],
            ev["winner"],
            ev["metrics"],
            ev["gates"],
            pr["model_uri"],
            run_id,
            pr.get("report_uri", ""),
            pr.get("model_card_uri", ""),
            previous_version=pr.get("previous_version"),
            passed_over=ev.get("passed_over"),
            labels=ev.get("labels"),
        )
    elif kind == "rejected":
        ev = run["evaluation"]
        email = emails.model_rejected(
            dataset,
            ev["winner"],
            ev["metrics"],
            ev["gates"],
            run_id,
            ev["evaluation_uri"],
            ev.get("report_uri", ""),
            champion_version=ev.get("champion_version"),
            labels=ev.get("labels"),
        )
    elif kind == "failed":
        err = run.get("error") or {}
        cause = err.get("Cause", "")
        with contextlib.suppress(ValueError, AttributeError):  # Lambda errors: JSON in Cause
            cause = json.loads(cause).get("errorMessage", cause)
        email = emails.run_failed(
            dataset,
            run_id,
            run.get("failed_step", "unknown"),
            err.get("Error", "unknown"),
            str(cause),
        )
    else:
        raise ValueError(f"unknown notification kind {kind!r}")
    message_id = mailer.send(email, recipients)
    logger.info(
        "notification sent",
        extra={"dataset": dataset, "run_id": run_id, "kind": kind, "subject": email.subject},
    )
    return {"message_id": message_id, "subject": email.subject}
