"""Retraining started by the monitor: the newest accepted curated data of the dataset plus the
captured rows whose labels have arrived (the recent world, with its truth)."""

import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from tabflow.contract import Contract
from tabflow.features import FeatureSpec
from tabflow.monitoring.context import MonitorContext
from tabflow.ports import s3_uri
from tabflow.workflow.payloads import start_payload


def retrain(
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
    payload = start_payload(
        dataset=dataset,
        run_id=run_id,
        curated_uri=curated_uri,
        contract_uri=s3_uri(ctx.raw_bucket, f"contracts/{dataset}.yaml"),
        report_uri=newest["report_uri"],
        source_uri=newest["file"],
        source_sha256=newest.get("sha256"),
        counts=newest.get("counts"),
        trigger="monitor",
        labelled_rows_added=labelled,
    )
    assert ctx.workflow is not None
    return {
        "run_id": run_id,
        "execution_arn": ctx.workflow.start(run_id, payload),
        "labelled_rows_added": labelled,
        "curated_uri": curated_uri,
    }


def labelled_rows(
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
    elif contract.target.kind == "multiclass":  # codes in the model's class order
        # (a label of a class merged into "other" at training comes back as "other")
        out[contract.target.column] = [spec.classes[int(t)] for t in truth]
    else:
        negatives = [
            c
            for c in (contract.columns[contract.target.column].categories or [])
            if c != spec.positive_label
        ]
        negative = negatives[0] if negatives else spec.negative_label
        out[contract.target.column] = [spec.positive_label if t else negative for t in truth]
    return out
