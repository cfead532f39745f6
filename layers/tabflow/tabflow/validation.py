"""Check a raw table against its contract: type every value, quarantine what is wrong.

Nothing is dropped silently: every input row ends up in exactly one of curated, quarantined
(with line, column and reason) or duplicates, and ``counts`` proves it."""

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabflow.contract import NUMBER_TYPES, Column, ColumnType, Contract, FileFormat
from tabflow.errors import SchemaError
from tabflow.readers import RawTable, normalise_header

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
TRUE_SPELLINGS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_SPELLINGS = frozenset({"no", "n", "false", "f", "0"})
EXAMPLES_PER_COLUMN = 5
DEFAULT_FORMAT = FileFormat()


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
    headers: dict[str, str] = field(default_factory=dict)  # renamed file headers
    warnings: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        return (
            self.counts["quarantined"] / self.counts["rows_in"] if self.counts["rows_in"] else 0.0
        )


def map_headers(columns: list[str], contract: Contract, *, file: str) -> dict[str, str]:
    """File header -> contract column, by normalised name or alias (case, spaces, punctuation
    ignored). Two file headers that land on the same name are a schema error."""
    lookup: dict[str, str] = {}
    for name, col in contract.columns.items():
        for spelling in (name, *col.aliases):
            lookup[normalise_header(spelling)] = name
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for header in columns:
        key = normalise_header(header)
        target = lookup.get(key, header)
        if target in seen:
            raise SchemaError(
                f"{file}: headers {seen[target]!r} and {header!r} both name column {target!r}",
                file=file,
                problems=[f"duplicate header {header!r} (same as {seen[target]!r})"],
            )
        seen[target] = header
        mapping[header] = target
    return mapping


def validate(raw: RawTable, contract: Contract, *, file: str, salt: str = "") -> ValidationResult:
    """``salt`` keys the hash of PII columns declared ``pii: hash`` (it comes from a secret)."""
    header_counts = Counter(str(c) for c in raw.frame.columns)
    duplicated_headers = sorted(c for c, n in header_counts.items() if n > 1)
    if duplicated_headers:
        raise SchemaError(
            f"{file}: duplicate header name(s) {duplicated_headers}",
            file=file,
            problems=[f"duplicate header {c!r}" for c in duplicated_headers],
        )
    mapping = map_headers(list(raw.frame.columns), contract, file=file)
    frame = raw.frame.rename(columns=mapping)
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
    if len(frame) == 0:
        raise SchemaError(
            f"{file}: the file has a header but no data rows", file=file, problems=["no data rows"]
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
    quarantined += [
        {
            "line": b.line,
            "problems": [{"column": None, "reason": b.reason, "value": b.text}],
            "row": {"_raw": b.text},
        }
        for b in raw.broken
    ]
    quarantined.sort(key=lambda q: q["line"])

    typed = pd.DataFrame({name: checks[name].values for name in present}, index=frame.index)
    for name, col in contract.columns.items():
        if name not in typed.columns:  # optional column absent from the file
            typed[name] = pd.Series(pd.NA, index=frame.index, dtype=_dtype(col.type))
    typed = typed[list(contract.columns)]
    for name, col in contract.columns.items():
        if col.pii == "drop":
            typed = typed.drop(columns=name)
        elif col.pii == "hash":
            typed[name] = hash_values(typed[name], salt)
    good = typed[~bad]
    if contract.duplicates == "drop_exact":
        dup_mask = good.duplicated(keep="first").to_numpy()
    elif contract.duplicates.startswith("drop_id"):
        keep = "last" if contract.duplicates.endswith("last") else "first"
        dup_mask = good.duplicated(subset=[contract.id_column], keep=keep).to_numpy()
    else:
        dup_mask = np.zeros(len(good), dtype=bool)
    duplicates = good[dup_mask].assign(_line=lines[~bad][dup_mask])
    curated = good[~dup_mask].reset_index(drop=True)

    counts = {
        "rows_in": n + len(raw.broken),
        "curated": len(curated),
        "quarantined": int(bad.sum()) + len(raw.broken),
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
        headers={k: v for k, v in mapping.items() if k != v},
        warnings=[
            f"column {name!r} is empty in every row"
            for name in present
            if n and checks[name].missing.all()
        ],
    )


def check_column(
    raw: pd.Series, col: Column, fmt: FileFormat = DEFAULT_FORMAT, *, is_target: bool = False
) -> ColumnCheck:
    text = raw.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
    reasons = pd.Series("", index=raw.index, dtype=object)
    kind = col.type

    if kind in NUMBER_TYPES:
        numbers, not_number = parse_numbers(text, kind, fmt)
        invalid = (~missing) & not_number
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
    elif kind == ColumnType.DATETIME:
        values, unparsed = parse_datetimes(
            text.where(~pd.Series(missing, index=raw.index)), col.formats
        )
        invalid = (~missing) & unparsed
        shown = ", ".join(col.formats) if col.formats else "ISO 8601"
        reasons[invalid] = f"not a date in the declared format(s): {shown}"
        values = values.where(~pd.Series(invalid, index=raw.index))
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
    else:  # category, string: kept as text exactly (a "=HYPERLINK(...)" stays a string)
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


_CURRENCY = r"^(?:[A-Z]{3}\s*)?[$€£¥₹]?\s*|\s*[$€£¥₹]?(?:\s*[A-Z]{3})?$"


def parse_numbers(
    text: pd.Series, kind: ColumnType, fmt: FileFormat
) -> tuple[pd.Series, np.ndarray]:
    """Text -> float. Money drops currency symbols/codes and reads (12.50) as -12.50; percent
    drops a trailing % and divides by 100. Thousands separators are removed only where they
    group digits in threes; a declared decimal comma becomes a point."""
    s = text
    negative = pd.Series(False, index=text.index)
    if kind == ColumnType.MONEY:
        negative = s.str.match(r"^\(.*\)$").fillna(False)
        s = s.str.replace(r"^\((.*)\)$", r"\1", regex=True)
        s = s.str.replace(_CURRENCY, "", regex=True)
        s = s.str.replace(r"^(-?)[$€£¥₹]", r"\1", regex=True)
    if kind == ColumnType.PERCENT:
        s = s.str.replace(r"\s*%$", "", regex=True)
    sep = fmt.thousands_separator
    if sep:
        dec = re.escape(fmt.decimal)
        grouped = rf"^[-+]?\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+(?:{dec}\d+)?$"
        is_grouped = s.str.match(grouped).fillna(False)
        s = s.where(~is_grouped, s.str.replace(sep, "", regex=False))
    if fmt.decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(s.where(s.str.match(NUMBER_PATTERN).fillna(False)), errors="coerce")
    numbers = numbers.where(~negative, -numbers)
    if kind == ColumnType.PERCENT:
        numbers = numbers / 100.0
    return numbers.astype("float64"), numbers.isna().to_numpy()


NUMBER_PATTERN = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"


def parse_datetimes(text: pd.Series, formats: list[str] | None) -> tuple[pd.Series, np.ndarray]:
    """Try each declared format in order; values matching none stay NaT (and are reported)."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    todo = text.notna().to_numpy().copy()
    for f in formats or ["ISO8601"]:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=f, errors="coerce", utc=True)
        parsed = parsed.dt.tz_convert(None).astype("datetime64[ns]")
        ok = parsed.notna().to_numpy()
        out.iloc[np.flatnonzero(todo)[ok]] = parsed[ok].to_numpy()
        todo[np.flatnonzero(todo)[ok]] = False
    return out, out.isna().to_numpy()


def hash_values(values: pd.Series, salt: str) -> pd.Series:
    """Salted sha256 of each value (missing stays missing): joins still work, values do not leak."""
    key = salt.encode()
    return values.map(
        lambda v: (
            None
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
            else hashlib.sha256(key + str(v).encode()).hexdigest()
        )
    ).astype(object)


def _dtype(kind: ColumnType) -> str:
    return {
        ColumnType.INT: "Int64",
        ColumnType.FLOAT: "float64",
        ColumnType.MONEY: "float64",
        ColumnType.PERCENT: "float64",
        ColumnType.BOOL: "boolean",
        ColumnType.DATETIME: "datetime64[ns]",
    }.get(kind, "object")


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
            if pd.api.types.is_datetime64_any_dtype(series):
                s = series.dropna()
                if len(s):
                    summary.update(min=str(s.min()), max=str(s.max()))
            elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
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
