"""One check of one dataset: drift of the window, decay of the labelled predictions, alerts,
optional retraining. The report is stored before any email is sent, so a failed send loses
nothing; the state (monitoring/<dataset>/state.json) is written last."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tabflow import emails, pii
from tabflow.contract import Contract
from tabflow.drift import ReferenceProfile
from tabflow.features import FeatureSpec
from tabflow.monitoring.alerts import (
    cooled,
    drift_alerts,
    load_state,
    update_decay_state,
    update_drift_state,
)
from tabflow.monitoring.captures import drift_check, read_captures
from tabflow.monitoring.context import MonitorContext
from tabflow.monitoring.decay import decay_check, served_interval
from tabflow.monitoring.labels import read_labels
from tabflow.monitoring.retrain import labelled_rows, retrain
from tabflow.observability import logger
from tabflow.ports import s3_uri
from tabflow.reports import monitoring_html


def check_dataset(
    dataset: str,
    contract: Contract,
    ctx: MonitorContext,
    now: datetime | None = None,
    *,
    force: bool = True,
) -> dict[str, Any]:
    """One check of one dataset. ``force=False`` (the schedule) skips datasets checked less
    than ``check_every_hours`` ago."""
    now = now or datetime.now(UTC)
    cfg = contract.monitoring
    champion = ctx.registry.champion(dataset)
    if champion is None:
        return {"dataset": dataset, "status": "no_champion"}
    state_uri = s3_uri(ctx.lake_bucket, f"monitoring/{dataset}/state.json")
    state = load_state(ctx.store, state_uri, champion.version)
    if not force and not cooled(state.get("last_check"), cfg.check_every_hours, now):
        return {"dataset": dataset, "status": "not_due", "last_check": state["last_check"]}
    state["last_check"] = now.isoformat()
    spec = FeatureSpec.from_json(ctx.store.get(champion.spec_uri))
    since = max(now - timedelta(days=cfg.window_days), champion.created_at)
    result: dict[str, Any] = {
        "dataset": dataset,
        "model_version": champion.version,
        "checked_at": now.isoformat(),
        "window": {"from": since.isoformat(), "to": now.isoformat()},
    }
    window = read_captures(
        ctx.store,
        ctx.lake_bucket,
        dataset,
        spec,
        since=since,
        until=now,
        model_version=champion.version,
    )
    result["rows"] = window.num_rows

    report, alert_features = None, []
    if window.num_rows < cfg.min_rows:  # too little to say anything: the state holds
        result.update(status="insufficient_data", min_rows=cfg.min_rows)
    else:
        reference = ReferenceProfile.from_json(ctx.store.get(champion.reference_uri))
        report = drift_check(window, spec, reference, contract)
        previous = state["drift"]
        state["drift"] = update_drift_state(report, previous, cfg, now)
        alert_features = drift_alerts(report, previous, state["last_alert"], cfg, now)
        drifted = [c.feature for c in report.drifted]
        result.update(status="drift" if drifted else "ok", drift=report.to_dict(), drifted=drifted)

    # Decay, over every matured prediction of this model (labels arrive late).
    everything, labels = None, {}
    if contract.id_column:
        everything = read_captures(
            ctx.store,
            ctx.lake_bucket,
            dataset,
            spec,
            since=champion.created_at,
            until=now,
            model_version=champion.version,
        )
        delayed = read_labels(
            ctx.store,
            ctx.raw_bucket,
            dataset,
            contract,
            spec.negative_label,
            spec.classes,
            spec.merged,
        )
        labels = pii.label_ids(
            delayed.values, pii.policy(contract.columns).get(contract.id_column), ctx.pii_salt
        )
        regression = contract.target.kind == "regression"
        interval = served_interval(ctx.store, champion) if regression else None
        result["decay"] = decay_check(
            everything, labels, champion, contract, now, interval, classes=spec.classes
        )
        result["decay"]["labels"] = delayed.summary()  # what was read, and what was not

    # One email when decay enters its state (hysteresis), none while it holds.
    entered = False
    if "decay" in result:
        previous_decay = state["decay"]
        state["decay"] = update_decay_state(result["decay"], previous_decay, cfg, now)
        entered = state["decay"]["active"] and not previous_decay.get("active")
    alert_decay = entered and cooled(state["last_alert"].get("decay"), cfg.cooldown_hours, now)
    result["alerting"] = {"drift": alert_features, "decay": alert_decay}

    stamp = f"{now:%Y-%m-%dT%H%M%S}"
    report_uri = s3_uri(ctx.lake_bucket, f"monitoring/{dataset}/{stamp}-check.json")
    result["report_uri"] = report_uri
    ctx.store.put(
        report_uri, json.dumps(result, indent=1, default=str).encode(), "application/json"
    )
    ctx.store.put(
        report_uri.removesuffix(".json") + ".html", monitoring_html(result).encode(), "text/html"
    )

    recipients = contract.notify or ctx.recipients
    if alert_features and report is not None:
        moved = [c.to_dict() for c in report.drifted if c.feature in alert_features]
        unused = [c.to_dict() for c in report.unused_moved]
        email = emails.drift_alert(
            dataset, champion.version, moved, window.num_rows, report_uri, unused=unused
        )
        result["alert_subject"] = email.subject
        result["alert_message_id"] = ctx.mailer.send(email, recipients)
        for f in alert_features:
            state["last_alert"][f"drift:{f}"] = now.isoformat()
    if alert_decay:
        email = emails.decay_alert(dataset, champion.version, result["decay"], report_uri)
        result["decay_subject"] = email.subject
        ctx.mailer.send(email, recipients)
        state["last_alert"]["decay"] = now.isoformat()

    wants = {"drift": bool(alert_features), "decay": alert_decay}
    trigger = (
        wants["drift"] or wants["decay"]
        if cfg.retrain_on == "both"
        else wants.get(cfg.retrain_on, False)
    )
    if (
        trigger
        and ctx.workflow
        and cooled(state.get("last_retrain"), cfg.retrain_cooldown_hours, now)
    ):
        recent = (
            labelled_rows(everything, labels, spec, contract) if everything is not None else None
        )
        result["retraining"] = retrain(dataset, contract, ctx, now, recent)
        state["last_retrain"] = now.isoformat()
    ctx.store.put(state_uri, json.dumps(state, indent=1).encode(), "application/json")
    logger.info(
        "monitor check", extra={k: result.get(k) for k in ("dataset", "status", "rows", "drifted")}
    )
    return result
