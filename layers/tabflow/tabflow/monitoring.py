"""The monitoring use case: captured requests vs. the champion's training reference.

Per feature PSI against the reference profile; an alert email names the drifted features.
The report is stored before the email is sent, so a failed send loses nothing."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tabflow import emails
from tabflow.contract import Contract
from tabflow.drift import ReferenceProfile, compare
from tabflow.features import FeatureSpec
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, Registry, s3_uri


def captured_records(
    store: ObjectStore,
    lake_bucket: str,
    dataset: str,
    *,
    since: datetime,
    until: datetime,
    model_version: int,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    day = since.date()
    while day <= until.date():
        for uri in store.list(s3_uri(lake_bucket, f"captures/{dataset}/dt={day:%Y-%m-%d}/")):
            doc = json.loads(store.get(uri))
            at = datetime.fromisoformat(doc["at"])
            if since <= at <= until and doc.get("model_version") == model_version:
                records.extend(doc["records"])
        day += timedelta(days=1)
    return records


def check_dataset(
    dataset: str,
    contract: Contract,
    *,
    registry: Registry,
    store: ObjectStore,
    mailer: Mailer,
    lake_bucket: str,
    recipients: list[str],
    window_days: float,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    champion = registry.champion(dataset)
    if champion is None:
        return {"dataset": dataset, "status": "no_champion"}
    since = max(now - timedelta(days=window_days), champion.created_at)
    records = captured_records(
        store, lake_bucket, dataset, since=since, until=now, model_version=champion.version
    )
    result: dict[str, Any] = {
        "dataset": dataset,
        "model_version": champion.version,
        "window": {"from": since.isoformat(), "to": now.isoformat()},
        "rows": len(records),
        "threshold": contract.monitoring.psi_threshold,
    }
    if len(records) < contract.monitoring.min_rows:
        result["status"] = "insufficient_data"
        result["min_rows"] = contract.monitoring.min_rows
        return result

    spec = FeatureSpec.from_json(store.get(champion.spec_uri))
    reference = ReferenceProfile.from_json(store.get(champion.reference_uri))
    columns = {f.name: [r.get(f.name) for r in records] for f in spec.fields}
    x = spec.serving_matrix(columns)
    drift = compare(reference, x, threshold=contract.monitoring.psi_threshold)
    drifted = [d for d in sorted(drift, key=lambda d: -d.psi) if d.drifted]
    result.update(
        status="drift" if drifted else "ok",
        features=[{"feature": d.feature, "psi": d.psi, "drifted": d.drifted} for d in drift],
        drifted=[d.feature for d in drifted],
        max_psi=float(np.max([d.psi for d in drift])),
    )
    report_uri = s3_uri(lake_bucket, f"monitoring/{dataset}/{now:%Y-%m-%dT%H%M%S}-drift.json")
    store.put(report_uri, json.dumps(result, indent=1).encode(), "application/json")
    result["report_uri"] = report_uri
    if drifted:
        email = emails.drift_alert(
            dataset,
            champion.version,
            [{"feature": d.feature, "psi": d.psi} for d in drifted],
            len(records),
            contract.monitoring.psi_threshold,
            report_uri,
        )
        result["alert_message_id"] = mailer.send(email, contract.notify or recipients)
        result["alert_subject"] = email.subject
    logger.info("drift check", extra={k: result[k] for k in ("dataset", "status", "rows")})
    return result
