"""The monitoring use case: captured requests vs. the champion's training reference (drift),
captured predictions vs. delayed labels (decay); alerts, cooldowns and optional retraining.

The report is stored before any email is sent, so a failed send loses nothing. State (how
many windows in a row each feature drifted, when each condition last alerted, when the last
retraining started) lives in the lake at monitoring/<dataset>/state.json."""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from tabflow import emails, pii
from tabflow.contract import Contract
from tabflow.drift import DriftReport, ReferenceProfile, check_window
from tabflow.errors import ObjectNotFound
from tabflow.evaluation.metrics import confusion_counts, expected_calibration_error, roc_auc
from tabflow.features import FeatureSpec
from tabflow.observability import logger
from tabflow.ports import Mailer, ModelVersion, ObjectStore, Registry, TableStore, Workflow, s3_uri
from tabflow.readers import read_table
from tabflow.reports import monitoring_html

META = ("_at", "_request_id", "_model_version", "_score", "_id")


@dataclass(frozen=True)
class MonitorContext:
    registry: Registry
    store: ObjectStore
    mailer: Mailer
    lake_bucket: str
    raw_bucket: str
    recipients: list[str]
    workflow: Workflow | None = None
    tables: TableStore | None = None  # set: retraining adds the labelled captures to the data
    pii_salt: Callable[[], str] | None = None  # label ids of a pii: hash id are hashed with it


def read_captures(
    store: ObjectStore,
    lake_bucket: str,
    dataset: str,
    spec: FeatureSpec,
    *,
    since: datetime,
    until: datetime,
    model_version: int,
) -> pa.Table:
    """Captured rows of one model version between two instants, as an Arrow table."""
    fields = [
        pa.field(f.name, pa.float64() if f.kind == "numeric" else pa.string()) for f in spec.fields
    ]
    schema = pa.schema(
        fields
        + [
            pa.field("_at", pa.string()),
            pa.field("_request_id", pa.string()),
            pa.field("_model_version", pa.int64()),
            pa.field("_score", pa.float64()),
            pa.field("_id", pa.string()),
        ]
    )
    parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    tables = []
    day = since.date()
    while day <= until.date():
        for uri in store.list(s3_uri(lake_bucket, f"captures/{dataset}/dt={day:%Y-%m-%d}/")):
            if uri.endswith(".jsonl"):
                tables.append(pajson.read_json(io.BytesIO(store.get(uri)), parse_options=parse))
        day += timedelta(days=1)
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables(tables)
    at = np.array(
        [t.replace("+00:00", "") for t in table.column("_at").to_pylist()], dtype="datetime64[us]"
    )
    lo, hi = (
        np.datetime64(since.replace(tzinfo=None), "us"),
        np.datetime64(until.replace(tzinfo=None), "us"),
    )
    keep = (
        (at >= lo)
        & (at <= hi)
        & (table.column("_model_version").to_numpy(zero_copy_only=False) == model_version)
    )
    return table.filter(pa.array(keep))


def _columns(table: pa.Table, spec: FeatureSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in spec.fields:
        column = table.column(f.name)
        out[f.name] = (
            column.to_numpy(zero_copy_only=False).astype(float)
            if f.kind == "numeric"
            else np.asarray(column.to_pylist(), dtype=object)
        )
    return out


def drift_check(
    table: pa.Table, spec: FeatureSpec, reference: ReferenceProfile, contract: Contract
) -> DriftReport:
    columns = _columns(table, spec)
    x = spec.serving_matrix(columns)
    unseen = {}
    for f in spec.features:
        if f.kind == "categorical" and not f.derive:
            known = set(f.categories)
            unseen[f.name] = np.fromiter(
                (isinstance(v, str) and v not in known for v in columns[f.name]),
                dtype=bool,
                count=len(columns[f.name]),
            )
    scores = table.column("_score").to_numpy(zero_copy_only=False).astype(float)
    report = check_window(reference, spec, x, contract.monitoring, unseen=unseen, scores=scores)
    names = {f.name: list(f.categories) for f in spec.features if f.kind == "categorical"}
    for check in report.features:  # category names, for people reading the report and the email
        if check.feature in names:
            check.reference["labels"] = names[check.feature]
    return report


def read_labels(
    store: ObjectStore, raw_bucket: str, dataset: str, contract: Contract
) -> dict[str, bool]:
    """labels/<dataset>/* files (CSV, JSON Lines, Parquet) with the id and target columns."""
    labels: dict[str, Any] = {}
    id_col, target = contract.id_column, contract.target.column
    for uri in store.list(s3_uri(raw_bucket, f"labels/{dataset}/")):
        raw = read_table(store.get(uri), name=uri.rsplit("/", 1)[-1])
        if id_col not in raw.columns or target not in raw.columns:
            logger.warning("label file lacks the id or target column", extra={"file": uri})
            continue
        ids = raw.table.column(raw.columns.index(id_col)).to_pylist()
        values = raw.table.column(raw.columns.index(target)).to_pylist()
        for i, v in zip(ids, values, strict=True):
            if not i or v is None or not v.strip():
                continue
            if contract.target.kind == "regression":
                try:
                    labels[i.strip()] = float(v)
                except ValueError:
                    continue
            else:
                labels[i.strip()] = v.strip() == contract.target.positive_label
    return labels


def decay_check(
    table: pa.Table,
    labels: dict[str, Any],
    champion: ModelVersion,
    contract: Contract,
    now: datetime,
) -> dict[str, Any]:
    cfg = contract.monitoring
    mature_before = now - timedelta(days=cfg.label_maturity_days)
    ids = table.column("_id").to_pylist()
    at = table.column("_at").to_pylist()
    scores = table.column("_score").to_numpy(zero_copy_only=False).astype(float)
    rows = [
        i
        for i, (k, t) in enumerate(zip(ids, at, strict=True))
        if k in labels and datetime.fromisoformat(t) <= mature_before
    ]
    test_auc = champion.metrics.get("auc")
    result: dict[str, Any] = {
        "labelled": len(rows),
        "test_auc": test_auc,
        "tolerance": cfg.decay_tolerance,
    }
    if len(rows) < cfg.min_rows:
        return result | {"status": "insufficient_labels"}
    if contract.target.kind == "regression":
        truth = np.array([labels[ids[i]] for i in rows], dtype=float)
        rmse = float(np.sqrt(np.mean((scores[rows] - truth) ** 2)))
        test_rmse = champion.metrics.get("rmse")
        decayed = test_rmse is not None and rmse > test_rmse * (1 + cfg.decay_tolerance)
        return result | {
            "rmse": rmse,
            "test_rmse": test_rmse,
            "status": "decay" if decayed else "ok",
        }
    y = np.array([labels[ids[i]] for i in rows])
    s = scores[rows]
    auc = roc_auc(y, s)
    predicted = s >= champion.threshold
    tp = confusion_counts(y, predicted)[0]
    result.update(
        auc=auc,
        precision=tp / max(int(predicted.sum()), 1),
        recall=tp / max(int(y.sum()), 1),
        brier=float(np.mean((s - y) ** 2)),
        ece=expected_calibration_error(y, s),
        positives=int(y.sum()),
    )
    days = np.array([at[i][:10] for i in rows])
    result["by_day"] = [
        {
            "day": d,
            "labelled": int((days == d).sum()),
            "auc": roc_auc(y[days == d], s[days == d]),
        }
        for d in sorted(set(days.tolist()))
    ]
    if auc is None:
        return result | {"status": "one_class"}
    decayed = test_auc is not None and auc < test_auc - cfg.decay_tolerance
    return result | {"status": "decay" if decayed else "ok"}


def _state(store: ObjectStore, uri: str) -> dict[str, Any]:
    try:
        return json.loads(store.get(uri))
    except ObjectNotFound:
        return {"streaks": {}, "last_alert": {}, "last_retrain": None, "last_check": None}


def _cooled(last: str | None, hours: float, now: datetime) -> bool:
    return last is None or now - datetime.fromisoformat(last) >= timedelta(hours=hours)


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
    state = _state(ctx.store, state_uri)
    if not force and not _cooled(state.get("last_check"), cfg.check_every_hours, now):
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

    drifted: list[str] = []
    if window.num_rows < cfg.min_rows:
        result.update(status="insufficient_data", min_rows=cfg.min_rows)
    else:
        reference = ReferenceProfile.from_json(ctx.store.get(champion.reference_uri))
        report = drift_check(window, spec, reference, contract)
        drifted = [c.feature for c in report.drifted]
        result.update(status="drift" if drifted else "ok", drift=report.to_dict(), drifted=drifted)
        streaks = state["streaks"]
        for c in report.features + ([report.score] if report.score else []):
            streaks[c.feature] = streaks.get(c.feature, 0) + 1 if c.drifted else 0

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
        labels = read_labels(ctx.store, ctx.raw_bucket, dataset, contract)
        labels = pii.label_ids(
            labels, pii.policy(contract.columns).get(contract.id_column), ctx.pii_salt
        )
        result["decay"] = decay_check(everything, labels, champion, contract, now)

    # What deserves an email: persistent drift, and decay, each outside its cooldown.
    alert_features = [
        f
        for f in drifted
        if state["streaks"].get(f, 0) >= cfg.persistence
        and _cooled(state["last_alert"].get(f"drift:{f}"), cfg.cooldown_hours, now)
    ]
    decayed = result.get("decay", {}).get("status") == "decay"
    alert_decay = decayed and _cooled(state["last_alert"].get("decay"), cfg.cooldown_hours, now)
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
    if alert_features:
        moved = [
            c
            for c in result["drift"]["features"]
            + ([result["drift"]["score"]] if result["drift"]["score"] else [])
            if c["feature"] in alert_features
        ]
        email = emails.drift_alert(dataset, champion.version, moved, window.num_rows, report_uri)
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
        and _cooled(state.get("last_retrain"), cfg.retrain_cooldown_hours, now)
    ):
        recent = (
            _labelled_rows(everything, labels, spec, contract) if everything is not None else None
        )
        result["retraining"] = _retrain(dataset, contract, ctx, now, recent)
        state["last_retrain"] = now.isoformat()
    ctx.store.put(state_uri, json.dumps(state, indent=1).encode(), "application/json")
    logger.info(
        "monitor check", extra={k: result.get(k) for k in ("dataset", "status", "rows", "drifted")}
    )
    return result


def _retrain(
    dataset: str, contract: Contract, ctx: MonitorContext, now: datetime, recent: Any | None
) -> dict[str, Any] | None:
    """Start the training workflow on the newest accepted curated data of the dataset plus
    ``recent``: the captured rows whose labels have arrived (the recent world, with its truth)."""
    newest = None
    for uri in ctx.store.list(s3_uri(ctx.lake_bucket, f"reports/{dataset}/")):
        if uri.endswith("/validation.json"):
            report = json.loads(ctx.store.get(uri))
            if report.get("status") == "accepted" and (
                newest is None or report["received_at"] > newest["received_at"]
            ):
                newest = report | {"report_uri": uri}
    if newest is None:
        return None
    run_id = f"retrain-{now:%Y%m%dT%H%M%S}"
    curated_uri, labelled = newest["curated_uri"], 0
    if ctx.tables is not None and recent is not None and len(recent):
        import pandas as pd

        merged = pd.concat([ctx.tables.read_parquet(curated_uri), recent], ignore_index=True)
        merged = merged.drop_duplicates(subset=[contract.id_column], keep="last").reset_index(
            drop=True
        )
        curated_uri = s3_uri(ctx.lake_bucket, f"curated/{dataset}/run={run_id}/data.parquet")
        ctx.tables.write_parquet(merged, curated_uri)
        labelled = len(recent)
    payload = {
        "dataset": dataset,
        "run_id": run_id,
        "curated_uri": curated_uri,
        "contract_uri": s3_uri(ctx.raw_bucket, f"contracts/{dataset}.yaml"),
        "report_uri": newest["report_uri"],
        "source_uri": newest["file"],
        "source_sha256": newest.get("sha256"),
        "counts": newest.get("counts"),
        "trigger": "monitor",
        "labelled_rows_added": labelled,
    }
    assert ctx.workflow is not None
    return {
        "run_id": run_id,
        "execution_arn": ctx.workflow.start(run_id, payload),
        "labelled_rows_added": labelled,
        "curated_uri": curated_uri,
    }


def _labelled_rows(
    captures: pa.Table, labels: dict[str, Any], spec: FeatureSpec, contract: Contract
):
    """Captured inputs whose ground truth arrived, as curated rows (id, inputs, target)."""
    import pandas as pd

    frame = captures.to_pandas()
    frame = frame[frame["_id"].isin(list(labels))]
    out = pd.DataFrame({contract.id_column: frame["_id"].astype(str).to_numpy()})
    for f in spec.fields:
        values = frame[f.name].to_numpy()
        if f.kind == "datetime":
            out[f.name] = pd.to_datetime(values, utc=True, errors="coerce").tz_convert(None)
        elif contract.columns[f.name].type.value == "bool":
            out[f.name] = pd.array([None if v != v else bool(v) for v in values], dtype="boolean")
        else:
            out[f.name] = values
    truth = [labels[i] for i in out[contract.id_column]]
    if contract.target.kind == "regression":
        out[contract.target.column] = truth
    else:
        negatives = [
            c
            for c in (contract.columns[contract.target.column].categories or [])
            if c != spec.positive_label
        ]
        negative = negatives[0] if negatives else spec.negative_label
        out[contract.target.column] = [spec.positive_label if t else negative for t in truth]
    return out
