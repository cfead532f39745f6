"""Check a raw table against its contract: type every value, quarantine what is wrong.

Nothing is dropped silently: every input row ends up in exactly one of curated, quarantined
(with line, column and reason) or duplicates, and ``counts`` proves it."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabflow.contract import Column, ColumnType, Contract
from tabflow.errors import SchemaError
from tabflow.readers import RawTable

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
TRUE_SPELLINGS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_SPELLINGS = frozenset({"no", "n", "false", "f", "0"})
EXAMPLES_PER_COLUMN = 5


@dataclass
class ColumnCheck:
    values: pd.Series  # typed values, NA where missing or invalid
    missing: np.ndarray  # bool mask
    invalid: np.ndarray  # bool mask
    reasons: pd.Series  # text per row where invalid


@dataclass
class ValidationResult:
    curated: pd.DataFrame
    quarantined: list[dict[str, Any]]
    duplicates: pd.DataFrame
    counts: dict[str, int]
    columns: dict[str, dict[str, Any]]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        return (
            self.counts["quarantined"] / self.counts["rows_in"] if self.counts["rows_in"] else 0.0
        )


def validate(raw: RawTable, contract: Contract, *, file: str) -> ValidationResult:
    frame = raw.frame
    missing_cols = [
        name for name, col in contract.columns.items() if col.required and name not in frame.columns
    ]
    if contract.target.column not in frame.columns and contract.target.column not in missing_cols:
        missing_cols.append(contract.target.column)
    if missing_cols:
        raise SchemaError(
            f"{file}: missing required column(s) {', '.join(repr(c) for c in missing_cols)}",
            file=file,
            problems=[f"missing required column {c!r}" for c in missing_cols],
        )
    duplicated_headers = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated_headers:
        raise SchemaError(
            f"{file}: duplicate header name(s) {duplicated_headers}",
            file=file,
            problems=[f"duplicate header {c!r}" for c in duplicated_headers],
        )

    present = [name for name in contract.columns if name in frame.columns]
    checks = {
        name: check_column(
            frame[name], contract.columns[name], is_target=name == contract.target.column
        )
        for name in present
    }
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    for check in checks.values():
        bad |= check.invalid

    lines = np.asarray(raw.line_numbers)
    quarantined = _quarantine_records(frame, checks, bad, lines, present)

    typed = pd.DataFrame({name: checks[name].values for name in present}, index=frame.index)
    for name, col in contract.columns.items():
        if name not in typed.columns:  # optional column absent from the file
            typed[name] = pd.Series(pd.NA, index=frame.index, dtype=_dtype(col.type))
    typed = typed[list(contract.columns)]
    for name, col in contract.columns.items():
        if col.pii == "drop":
            typed = typed.drop(columns=name)
    good = typed[~bad]
    if contract.duplicates == "drop_exact":
        dup_mask = good.duplicated(keep="first").to_numpy()
    else:
        dup_mask = np.zeros(len(good), dtype=bool)
    duplicates = good[dup_mask].assign(_line=lines[~bad][dup_mask])
    curated = good[~dup_mask].reset_index(drop=True)

    counts = {
        "rows_in": n,
        "curated": len(curated),
        "quarantined": int(bad.sum()),
        "duplicates": int(dup_mask.sum()),
    }
    assert counts["rows_in"] == counts["curated"] + counts["quarantined"] + counts["duplicates"]
    return ValidationResult(
        curated=curated,
        quarantined=quarantined,
        duplicates=duplicates.reset_index(drop=True),
        counts=counts,
        columns=_column_summaries(frame, checks, curated),
        ignored_columns=[c for c in frame.columns if c not in contract.columns],
    )


def check_column(raw: pd.Series, col: Column, *, is_target: bool = False) -> ColumnCheck:
    text = raw.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
    reasons = pd.Series("", index=raw.index, dtype=object)
    kind = col.type

    if kind in (ColumnType.INT, ColumnType.FLOAT):
        numbers = pd.to_numeric(text.where(~missing), errors="coerce")
        invalid = (~missing) & numbers.isna().to_numpy()
        reasons[invalid] = f"not a number ({kind.value})"
        if kind == ColumnType.INT:
            fractional = (~invalid) & (~missing) & (numbers.fillna(0) % 1 != 0).to_numpy()
            reasons[fractional] = "not a whole number"
            invalid |= fractional
        values = numbers.where(~pd.Series(invalid, index=raw.index))
        if col.min is not None:
            low = (values < col.min).fillna(False).to_numpy(dtype=bool)
            reasons[low] = f"below minimum {col.min:g}"
            invalid |= low
        if col.max is not None:
            high = (values > col.max).fillna(False).to_numpy(dtype=bool)
            reasons[high] = f"above maximum {col.max:g}"
            invalid |= high
        values = values.where(~pd.Series(invalid, index=raw.index))
        values = values.astype("Int64") if kind == ColumnType.INT else values.astype("float64")
    elif kind == ColumnType.BOOL:
        lowered = text.str.lower()
        is_true = lowered.isin(TRUE_SPELLINGS).to_numpy()
        is_false = lowered.isin(FALSE_SPELLINGS).to_numpy()
        invalid = ~missing & ~is_true & ~is_false
        reasons[invalid] = "not a boolean (expected yes/no, true/false, 1/0)"
        values = pd.Series(
            pd.array(np.where(is_true, True, False), dtype="boolean"), index=raw.index
        )
        values[missing | invalid] = pd.NA
    else:  # category, string
        invalid = np.zeros(len(raw), dtype=bool)
        values = text.astype(object).where(~pd.Series(missing, index=raw.index), None)
        if kind == ColumnType.CATEGORY and col.categories is not None and col.unseen == "reject":
            unseen = (~missing) & ~text.isin(col.categories).to_numpy()
            reasons[unseen] = f"not one of the allowed categories {col.categories}"
            invalid |= unseen
            values = values.where(~pd.Series(invalid, index=raw.index), None)

    if is_target or not col.nullable:
        empty = missing & ~invalid
        reasons[empty] = "missing value" + (" in the target" if is_target else "")
        invalid = invalid | empty
    return ColumnCheck(values=values, missing=missing, invalid=invalid, reasons=reasons)


def _dtype(kind: ColumnType) -> str:
    return {ColumnType.INT: "Int64", ColumnType.FLOAT: "float64", ColumnType.BOOL: "boolean"}.get(
        kind, "object"
    )


def _quarantine_records(
    frame: pd.DataFrame,
    checks: dict[str, ColumnCheck],
    bad: np.ndarray,
    lines: np.ndarray,
    present: list[str],
) -> list[dict[str, Any]]:
    positions = np.flatnonzero(bad)
    records: dict[int, dict[str, Any]] = {
        int(p): {"line": int(lines[p]), "problems": [], "row": {}} for p in positions
    }
    for name in present:
        check = checks[name]
        for p in np.flatnonzero(check.invalid):
            records[int(p)]["problems"].append(
                {"column": name, "reason": check.reasons.iat[p], "value": str(frame[name].iat[p])}
            )
    for p, record in records.items():
        record["row"] = {c: str(frame[c].iat[p]) for c in frame.columns}
    return [records[int(p)] for p in positions]


def _column_summaries(
    frame: pd.DataFrame, checks: dict[str, ColumnCheck], curated: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        examples = [
            {"value": str(frame[name].iat[p]), "reason": check.reasons.iat[p]}
            for p in np.flatnonzero(check.invalid)[:EXAMPLES_PER_COLUMN]
        ]
        summary: dict[str, Any] = {
            "missing": int(check.missing.sum()),
            "invalid": int(check.invalid.sum() - (check.missing & check.invalid).sum()),
            "invalid_examples": examples,
        }
        if name in curated.columns:
            series = curated[name]
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                s = series.dropna().astype(float)
                if len(s):
                    summary.update(
                        min=float(s.min()),
                        max=float(s.max()),
                        mean=float(s.mean()),
                        p50=float(s.median()),
                    )
            else:
                top = series.dropna().astype(str).value_counts().head(10)
                summary["top_values"] = {str(k): int(v) for k, v in top.items()}
        out[name] = summary
    return out
