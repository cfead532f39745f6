"""Batch scoring: a file dropped under batch/<dataset>/ becomes a predictions file in the lake
(CSV or Parquet, like the input) with the id, score (a regression's interval too), label and
model version of every valid row. Intake, validation and quarantine are the ingest's
(tabflow.intake); the scoring is the API's (same feature spec, same model, same history), so a
batch score equals an API score for the same record.

PII columns are hashed or dropped by that validation, with the secret's salt (tabflow.pii):
the predictions, the captured rows and the report hold no raw PII value; each prediction
carries the ``line`` of its row in the dropped file (the row number in a Parquet file), to join
it back whatever the id."""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
import pandas as pd

from tabflow import emails
from tabflow.errors import ModelNotFound, ModelUnavailable, ObjectChanged
from tabflow.intake import (
    Drop,
    DropConfig,
    DroppedObject,
    Intake,
    Refused,
    open_drop,
    take_in,
    write_report,
)
from tabflow.models.base import prediction_interval
from tabflow.observability import logger
from tabflow.ports import Mailer, ObjectStore, Registry, s3_uri
from tabflow.serving.cache import ChampionCache, Incident
from tabflow.serving.capture import CaptureWriter
from tabflow.training import frame_columns


@dataclass(frozen=True)
class BatchConfig(DropConfig):
    model_bucket: str | None = None  # where the dataset's model files must be (verification)


def score_object(
    *,
    key: str,
    etag: str,
    size: int,
    config: BatchConfig,
    store: ObjectStore,
    registry: Registry,
    mailer: Mailer,
    pii_salt: Callable[[], str] = lambda: "",
    version: str | None = None,
) -> dict[str, Any]:
    """``pii_salt`` is called only when the contract hashes a column (it reads a secret).
    ``version``/``etag``: the object the event names is read, never a later overwrite
    (tabflow.intake)."""
    obj = DroppedObject(key, etag, size, version)
    drop = open_drop(obj, "batch", config, store, mailer)
    if drop is None:
        return {"status": "ignored", "key": unquote_plus(key)}
    try:
        try:
            taken = take_in(drop, pii_salt)
        except ObjectChanged:
            return drop.skipped().to_dict() | {"kind": "batch scoring"}
        return _score(drop, taken, config, registry)
    except Refused as refused:
        return {
            "status": "rejected",
            "dataset": drop.report["dataset"],
            "problems": refused.problems,
            "report_uri": drop.report_uri,
        }


def _score(drop: Drop, taken: Intake, config: BatchConfig, registry: Registry) -> dict[str, Any]:
    contract, result, raw = taken.contract, taken.result, taken.raw
    if result.counts["curated"] == 0:
        drop.refuse(["no valid rows to score"], contract=contract)
    dataset, run_id, report = drop.dataset, drop.run_id, drop.report
    store, mailer = drop.store, drop.mailer
    name = drop.key.split("/")[-1]

    def alert(incident: Incident) -> None:  # once per incident across every process
        mailer.send(
            emails.model_load_failed(
                incident.dataset, incident.champion, incident.serving, "\n".join(incident.problems)
            ),
            config.recipients,  # the operators (AlertRecipients), as the API's alert
        )

    cache = ChampionCache(
        registry, store, ttl=0, model_bucket=config.model_bucket, on_incident=alert
    )
    try:  # the file is checked first: its problems are reported even before a model exists
        champion = cache.get(dataset)
    except ModelUnavailable as exc:  # nothing loads: a report and an email, not a crash
        drop.refuse(exc.problems, contract=contract)
    except ModelNotFound as exc:
        drop.refuse([str(exc)], contract=contract)
    if champion.fallback is not None:  # the champion does not load: an older version scores
        report["model_fallback"] = {
            "champion": champion.fallback.champion,
            "problem": champion.fallback.problem,
            "serving": champion.version.version,
        }
    spec = champion.spec
    curated = result.curated
    x = spec.matrix(frame_columns(spec, curated), history=spec.history)
    scores = champion.model.predict(x)
    probabilities = None
    if spec.task == "multiclass":  # the most probable class, its probability, and every class's
        probabilities = scores
        chosen = probabilities.argmax(axis=1)
        scores = probabilities[np.arange(len(chosen)), chosen]
        labels = np.asarray(spec.classes, dtype=object)[chosen]
    elif spec.task == "regression":
        labels = None
    else:
        labels = np.where(
            scores >= champion.version.threshold, spec.positive_label, spec.negative_label
        )
    id_column = contract.id_column if contract.id_column in curated else None  # pii: drop
    out = pd.DataFrame(
        {
            id_column or "row": curated[id_column] if id_column else np.arange(len(curated)),
            "line": result.lines,
            "score": np.round(scores, 6),
            "label": labels,
            "model_version": champion.version.version,
        }
    )
    if probabilities is not None:
        for i, c in enumerate(spec.classes):
            out[f"p_{c}"] = np.round(probabilities[:, i], 6)
    conformal = prediction_interval(champion.model) if spec.task == "regression" else None
    if conformal is not None:  # the API's interval, as two columns beside the score
        low, high = conformal.bounds(scores)
        out.insert(3, "interval_low", np.round(low, 6))
        out.insert(4, "interval_high", np.round(high, 6))
    stem = name.split(".")[0]
    if raw.fmt == "parquet":
        buf = io.BytesIO()
        out.to_parquet(buf, index=False)
        body, ext, content_type = buf.getvalue(), "parquet", "application/vnd.apache.parquet"
    else:
        body, ext, content_type = out.to_csv(index=False).encode(), "csv", "text/csv"
    predictions_uri = s3_uri(config.lake_bucket, f"predictions/{dataset}/{stem}-{run_id}.{ext}")
    store.put(predictions_uri, body, content_type)
    # The monitor watches batch inputs too: the scored rows join the captures, as API calls do.
    columns = frame_columns(spec, curated)
    at = datetime.now(UTC).isoformat()
    ids = curated[id_column].astype(str).tolist() if id_column else [None] * len(curated)
    lines = []
    for i in range(len(curated)):
        row = {f.name: _plain(columns[f.name][i], f) for f in spec.fields}
        row.update(
            _at=at,
            _request_id=run_id,
            _model_version=champion.version.version,
            _score=float(scores[i]),
            _id=ids[i],
        )
        if probabilities is not None:  # as the API captures a multiclass prediction
            row.update(_label=labels[i], _probabilities=probabilities[i].tolist())
        lines.append(json.dumps(row, default=str))
    CaptureWriter(store, config.lake_bucket).write(dataset, lines)
    report.update(
        status="scored", predictions_uri=predictions_uri, model_version=champion.version.version
    )
    write_report(store, drop.report_uri, report)
    logger.info(
        "batch scored", extra={"dataset": dataset, "rows": len(out), "counts": result.counts}
    )
    return {
        "status": "scored",
        "dataset": dataset,
        "predictions_uri": predictions_uri,
        "counts": result.counts,
        "model_version": champion.version.version,
        "report_uri": drop.report_uri,
        **({"model_fallback": report["model_fallback"]} if champion.fallback else {}),
    }


def _plain(value: Any, feature: Any) -> Any:
    """A column value as the API would have received it (codes back to category names)."""
    if feature.kind == "categorical":
        return None if value != value else feature.categories[int(value)]  # NaN: missing/unseen
    if feature.kind == "datetime":
        return None if np.isnat(value) else str(np.datetime_as_string(value, unit="s")) + "Z"
    if feature.kind == "numeric":
        return None if value != value else float(value)
    return value
