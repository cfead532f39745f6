"""Draft a contract from a sample file: types, categories, ranges, id/timestamp/target guesses.

The draft is for a person to review; every guess is marked in a comment."""

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from tabflow.contract import ColumnType, FileFormat
from tabflow.readers import normalise_header, read_table
from tabflow.value_columns import parse_datetimes, parse_numbers
from tabflow.values import FALSE_SPELLINGS, MISSING_MARKERS, TRUE_SPELLINGS

TARGET_NAMES = (
    "target",
    "label",
    "class",
    "outcome",
    "churn",
    "churned",
    "y",
    "is_fraud",
    "fraud",
    "default",
)
DATE_FORMATS = ["ISO8601", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y"]
MAX_CATEGORIES = 50


def infer_contract(data: bytes, *, name: str, dataset: str, target: str | None = None) -> str:
    raw = read_table(data, name=name)
    frame = raw.frame.rename(columns=normalise_header)
    columns: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    decimal = _guess_decimal(frame)
    fmt = FileFormat(decimal=decimal)
    for col in frame.columns:
        columns[col] = _infer_column(frame[col], fmt)
    id_col = _guess_id(frame, columns)
    ts_col = next((c for c, spec in columns.items() if spec["type"] == "datetime"), None)
    target = target or _guess_target(frame, columns, exclude={id_col, ts_col})
    if target is None:
        raise ValueError("no target column could be guessed: pass --target COLUMN")
    tcol = columns[target]
    if tcol["type"] in ("bool", "int") and frame[target].nunique() <= 2:
        values = sorted(frame[target].astype(str).str.strip().unique().tolist())
        tcol.clear()
        tcol.update(type="category", categories=values)
    regression = tcol["type"] in ("int", "float", "money", "percent")
    categories = tcol.get("categories") or []
    positive = None if regression else _guess_positive(categories)
    tcol["nullable"] = False
    if id_col:
        columns[id_col] = {"type": "string", "nullable": False, "feature": False}
    doc: dict[str, Any] = {
        "dataset": dataset,
        "description": f"Drafted from {name} ({len(frame)} rows); review every line.",
        "target": {"column": target, "kind": "regression"}
        if regression
        else {"column": target, "positive_label": positive},
    }
    if id_col:
        doc["id_column"] = id_col
    if ts_col:
        doc["timestamp_column"] = ts_col
    if decimal != ".":
        doc["format"] = {"decimal": decimal}
    doc["columns"] = columns
    doc["gates"] = {"min_r2": 0.0} if regression else {"min_auc": 0.7}
    header = [
        f"# Contract draft for {dataset!r}, inferred from {name}.",
        f"# Guesses: target={target!r}, positive_label={positive!r}, id_column={id_col!r}, "
        f"timestamp_column={ts_col!r}.",
        "# Ranges are the observed min/max: widen them to what is plausible.",
    ]
    header += [f"# NOTE: {n}" for n in notes]
    return (
        "\n".join(header)
        + "\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    )


def _infer_column(raw: pd.Series, fmt: FileFormat) -> dict[str, Any]:
    text = raw.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_MARKERS)
    present = text[~missing]
    spec: dict[str, Any] = {}
    if missing.any():
        spec["nullable"] = True
    if present.empty:
        return {"type": "string", "nullable": True}
    lowered = present.str.lower()
    if lowered.isin(TRUE_SPELLINGS | FALSE_SPELLINGS).all() and present.nunique() <= 2:
        return {"type": "bool", **spec}
    for kind in (ColumnType.INT, ColumnType.FLOAT, ColumnType.PERCENT, ColumnType.MONEY):
        if kind == ColumnType.PERCENT and not present.str.endswith("%").mean() > 0.5:
            continue
        if (
            kind == ColumnType.MONEY
            and not present.str.contains(r"[$€£¥₹]", regex=True).mean() > 0.5
        ):
            continue
        parsed, bad = parse_numbers(
            pa.array(present, pa.string()),
            kind if kind != ColumnType.INT else ColumnType.FLOAT,
            fmt,
        )
        numbers = pd.Series(parsed.to_numpy(zero_copy_only=False))
        if bad.mean() == 0 and (kind != ColumnType.INT or (numbers % 1 == 0).all()):
            return {
                "type": kind.value,
                "min": _round(numbers.min(), np.floor),
                "max": _round(numbers.max(), np.ceil),
                **spec,
            }
    for f in DATE_FORMATS:
        _, bad = parse_datetimes(pa.array(present, pa.string()), [f])
        if bad.mean() == 0:
            return {"type": "datetime", **({"formats": [f]} if f != "ISO8601" else {}), **spec}
    unique = present.unique()
    if len(unique) <= MAX_CATEGORIES and len(unique) <= max(2, 0.2 * len(present)):
        return {"type": "category", "categories": sorted(unique.tolist()), **spec}
    return {"type": "string", **spec}


def _round(v: float, direction=np.round) -> float | int:
    """Six decimals, rounded outwards for bounds: a range must admit the values it came from."""
    if float(v).is_integer():
        return int(v)
    return float(direction(v * 1e6) / 1e6)


def _guess_decimal(frame: pd.DataFrame) -> str:
    sample = frame.head(200).astype(str).stack()
    comma = sample.str.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d+").mean()
    point = sample.str.fullmatch(r"-?\d+\.\d+").mean()
    return "," if comma > point else "."


def _guess_id(frame: pd.DataFrame, columns: dict[str, dict[str, Any]]) -> str | None:
    for col in frame.columns:
        named = re.search(r"(^|_)(id|key|uuid)$", col) is not None
        if named and frame[col].is_unique and columns[col]["type"] in ("string", "int"):
            return col
    return None


def _guess_target(
    frame: pd.DataFrame, columns: dict[str, dict[str, Any]], exclude: set
) -> str | None:
    for col in frame.columns:
        if col in TARGET_NAMES and col not in exclude:
            return col
    binary = [c for c in frame.columns if c not in exclude and frame[c].nunique() == 2]
    return binary[-1] if binary else None


def _guess_positive(categories: list[str]) -> str:
    for value in categories:
        if value.lower() in ("yes", "y", "true", "1", "churn", "fraud", "positive", "bad"):
            return value
    return categories[-1] if categories else "1"
