"""Captured requests, read from the lake, and the drift check of a window (delayed labels:
labels.py).

Whole columns at a time (Arrow compute, numpy): a million captured rows of thirty features
are checked in about a second, with no per-value Python."""

import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from tabflow.contract import Contract
from tabflow.drift import DriftReport, FeatureProfile, ReferenceProfile, check_window
from tabflow.features import FeatureSpec
from tabflow.ports import ObjectStore, s3_uri

META = ("_at", "_request_id", "_model_version", "_score", "_id")
SCORE_DIGITS = 6  # the API answers (and captures) scores rounded to 6 digits


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
        + (
            [pa.field("_probabilities", pa.list_(pa.float64()))]
            if spec.task == "multiclass"
            else []
        )
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
    at = pc.cast(pc.replace_substring(table.column("_at"), "+00:00", ""), pa.timestamp("us"))
    lo = pa.scalar(since.replace(tzinfo=None), pa.timestamp("us"))
    hi = pa.scalar(until.replace(tzinfo=None), pa.timestamp("us"))
    keep = pc.and_(
        pc.and_(pc.greater_equal(at, lo), pc.less_equal(at, hi)),
        pc.equal(table.column("_model_version"), model_version),
    )
    return table.filter(pc.fill_null(keep, False))


def _raw_columns(table: pa.Table, spec: FeatureSpec) -> dict[str, Any]:
    """Columns as the feature pipeline reads them at serving time (for derived features)."""
    out: dict[str, Any] = {}
    for f in spec.fields:
        column = table.column(f.name)
        out[f.name] = (
            column.to_numpy(zero_copy_only=False).astype(float)
            if f.kind == "numeric"
            else np.asarray(column.to_pylist(), dtype=object)
        )
    return out


def window_columns(
    table: pa.Table, spec: FeatureSpec
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The model's feature columns of a window, as the serving pipeline computes them
    (numbers as float, categories as codes, NaN when missing or unseen), and for each
    categorical input which values are categories training never saw."""
    columns: dict[str, np.ndarray] = {}
    unseen: dict[str, np.ndarray] = {}
    for f in spec.features:
        if f.derive:
            continue
        column = table.column(f.name)
        if f.kind == "numeric":
            columns[f.name] = column.to_numpy(zero_copy_only=False).astype(float, copy=False)
        elif f.kind == "categorical":  # one hash lookup per column (Arrow), no per-value loop
            codes = pc.index_in(column, value_set=pa.array(list(f.categories), pa.string()))
            columns[f.name] = codes.to_numpy(zero_copy_only=False).astype(float, copy=False)
            unseen[f.name] = pc.and_(pc.is_valid(column), pc.is_null(codes)).to_numpy(
                zero_copy_only=False
            )
    rest = [f for f in spec.features if f.name not in columns]  # derived features
    if rest:
        matrix = replace(spec, features=tuple(rest)).serving_matrix(_raw_columns(table, spec))
        columns |= {f.name: matrix[:, j] for j, f in enumerate(rest)}
    return [columns[f.name] for f in spec.features], unseen


def at_served_precision(profile: FeatureProfile, digits: int = SCORE_DIGITS) -> FeatureProfile:
    """The score profile with its values rounded as the API rounds the scores it answers and
    captures. A calibrated score is often a step function (isotonic): every value is a tie, so
    0.142857 captured against 0.14285714 in the reference would move every step of the CDF
    (KS about 0.2 on unchanged data). Bins whose two edges round to one value are merged into
    the bin below (their values round onto that edge)."""
    edges = np.round(np.asarray(profile.edges, float), digits)
    counts = list(profile.counts)
    merged = [counts[0]]
    for k in range(1, len(counts)):
        if k < len(edges) and edges[k] == edges[k - 1]:
            merged[-1] += counts[k]
        else:
            merged.append(counts[k])
    return replace(
        profile,
        edges=tuple(float(e) for e in np.unique(edges)),
        counts=tuple(merged),
        sample=tuple(np.round(np.asarray(profile.sample, float), digits).tolist()),
        quantiles=tuple(np.round(np.asarray(profile.quantiles, float), digits).tolist()),
    )


def class_probabilities(table: pa.Table, classes: int) -> np.ndarray:
    """The captured probabilities of a multiclass model (``_probabilities``), rows x classes;
    a row without them, or with another number of them, is all NaN (counted as missing)."""
    out = np.full((table.num_rows, classes), np.nan)
    if "_probabilities" not in table.column_names or not table.num_rows:
        return out
    lists = table.column("_probabilities").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    whole = lengths == classes
    if whole.all():  # the usual case: one flatten, no filter
        values = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
        return values.astype(float, copy=False).reshape(-1, classes)
    if whole.any():
        kept = lists.filter(pa.array(whole))
        values = pc.list_flatten(kept).to_numpy(zero_copy_only=False).astype(float)
        out[whole] = values.reshape(-1, classes)
    return out


def drift_check(
    table: pa.Table, spec: FeatureSpec, reference: ReferenceProfile, contract: Contract
) -> DriftReport:
    columns, unseen = window_columns(table, spec)
    scores = table.column("_score").to_numpy(zero_copy_only=False).astype(float)
    probabilities = None
    if reference.multiclass:  # rounded as served, both sides (see at_served_precision)
        probabilities = np.round(
            class_probabilities(table, len(reference.class_scores)), SCORE_DIGITS
        )
        reference = replace(
            reference, class_scores=tuple(at_served_precision(p) for p in reference.class_scores)
        )
    elif reference.score is not None:  # API and batch captures, and the reference, alike
        scores = np.round(scores, SCORE_DIGITS)
        reference = replace(reference, score=at_served_precision(reference.score))
    report = check_window(
        reference,
        spec,
        columns,
        contract.monitoring,
        unseen=unseen,
        scores=scores,
        probabilities=probabilities,
    )
    if report.score is not None and reference.multiclass:
        report.score.reference["labels"] = list(spec.classes)
    names = {f.name: list(f.categories) for f in spec.features if f.kind == "categorical"}
    for check in report.features:  # category names, for people reading the report and the email
        if check.feature in names:
            check.reference["labels"] = names[check.feature]
    return report
