"""Check a raw table against its contract: type every value, quarantine what is wrong.

Nothing is dropped silently: every input row ends up in exactly one of curated, quarantined
(with line, column and reason) or duplicates, and ``counts`` proves it. The checks run as
vectorised Arrow kernels over whole columns; Python only touches the rows that are bad."""

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tabflow import pii
from tabflow.contract import NUMBER_TYPES, Column, ColumnType, Contract, FileFormat
from tabflow.errors import SchemaError
from tabflow.readers import RawTable, normalise_header

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
TRUE_SPELLINGS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_SPELLINGS = frozenset({"no", "n", "false", "f", "0"})
EXAMPLES_PER_COLUMN = 5
DEFAULT_FORMAT = FileFormat()
NUMBER_PATTERN = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
_CURRENCY = r"^(?:[A-Z]{3}\s*)?[$€£¥₹]?\s*|\s*[$€£¥₹]?(?:\s*[A-Z]{3})?$"


def _any_case(words: frozenset[str]) -> pa.Array:
    """Every upper/lower-case spelling of short words: matching against these sets avoids
    lower-casing whole columns (a copy of every value)."""
    out: set[str] = set()
    for word in words:
        variants = [""]
        for ch in word:
            variants = [v + c for v in variants for c in {ch.lower(), ch.upper()}]
        out.update(variants)
    return pa.array(sorted(out), pa.string())


_MISSING = _any_case(MISSING_MARKERS)
_TRUE = _any_case(TRUE_SPELLINGS)
_FALSE = _any_case(FALSE_SPELLINGS)
_ARROW_TYPES = {
    ColumnType.INT: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.MONEY: pa.float64(),
    ColumnType.PERCENT: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
    ColumnType.DATETIME: pa.timestamp("ns"),
    ColumnType.CATEGORY: pa.string(),
    ColumnType.STRING: pa.string(),
}


@dataclass
class ColumnCheck:
    values: pa.Array  # typed values, null where missing or invalid
    missing: np.ndarray  # bool mask
    invalid: np.ndarray  # bool mask
    reasons: list[tuple[np.ndarray, str]]  # (mask, reason); a later mask wins for a row

    def reason(self, row: int) -> str:
        found = ""
        for mask, text in self.reasons:
            if mask[row]:
                found = text
        return found


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
        target = lookup.get(normalise_header(header), header)
        if target in seen:
            raise SchemaError(
                f"{file}: headers {seen[target]!r} and {header!r} both name column {target!r}",
                file=file,
                problems=[f"duplicate header {header!r} (same as {seen[target]!r})"],
            )
        seen[target] = header
        mapping[header] = target
    return mapping


def validate(
    raw: RawTable, contract: Contract, *, file: str, salt: str = "", for_scoring: bool = False
) -> ValidationResult:
    """``salt`` keys the hash of PII columns declared ``pii: hash`` (it comes from a secret).
    ``for_scoring``: a file to predict on, where the target may be absent."""
    target = contract.target.column
    header_counts = Counter(raw.columns)
    duplicated_headers = sorted(c for c, n in header_counts.items() if n > 1)
    if duplicated_headers:
        raise SchemaError(
            f"{file}: duplicate header name(s) {duplicated_headers}",
            file=file,
            problems=[f"duplicate header {c!r}" for c in duplicated_headers],
        )
    mapping = map_headers(raw.columns, contract, file=file)
    names = [mapping[c] for c in raw.columns]
    position = {name: i for i, name in enumerate(names)}
    missing_cols = [
        name
        for name, col in contract.columns.items()
        if col.required and name not in position and not (for_scoring and name == target)
    ]
    if not for_scoring and target not in position and target not in missing_cols:
        missing_cols.append(target)
    if missing_cols:
        raise SchemaError(
            f"{file}: missing required column(s) {', '.join(repr(c) for c in missing_cols)}",
            file=file,
            problems=[f"missing required column {c!r}" for c in missing_cols],
        )
    n = raw.table.num_rows
    if n == 0 and not raw.broken:
        raise SchemaError(
            f"{file}: the file has a header but no data rows", file=file, problems=["no data rows"]
        )

    present = [n for n in contract.columns if n in position and not (for_scoring and n == target)]
    text = {name: raw.table.column(position[name]).combine_chunks() for name in present}
    # Arrow kernels release the GIL: columns are checked in parallel on the cores there are.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {
            name: pool.submit(
                check_column,
                text[name],
                contract.columns[name],
                contract.format,
                is_target=name == target and not for_scoring,
            )
            for name in present
        }
        checks = {name: f.result() for name, f in futures.items()}
    bad = np.zeros(n, dtype=bool)
    for check in checks.values():
        bad |= check.invalid
    lines = np.asarray(raw.line_numbers)
    quarantined = _quarantine_records(raw, names, checks, bad, lines)
    quarantined += [
        {
            "line": b.line,
            "problems": [{"column": None, "reason": b.reason, "value": b.text}],
            "row": {"_raw": b.text},
        }
        for b in raw.broken
    ]
    quarantined.sort(key=lambda q: q["line"])

    arrays: dict[str, pa.Array] = {}
    for name, col in contract.columns.items():
        if col.pii == "drop":
            continue
        values = checks[name].values if name in checks else pa.nulls(n, _ARROW_TYPES[col.type])
        if col.pii == "hash":
            values = hash_values(values, salt)
        arrays[name] = values
    good = pa.table(arrays).filter(pa.array(~bad))
    curated_all = good.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    )
    dup_mask = _duplicates(curated_all, good, contract)
    duplicates = curated_all[dup_mask].assign(_line=lines[~bad][dup_mask])
    curated = curated_all[~dup_mask].reset_index(drop=True) if dup_mask.any() else curated_all

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
        columns=_column_summaries(
            text,
            checks,
            good.filter(pa.array(~dup_mask)) if dup_mask.any() else good,
            {
                n
                for n, c in contract.columns.items()
                if c.type in (ColumnType.CATEGORY, ColumnType.BOOL)
            },
        ),
        ignored_columns=[c for c in names if c not in contract.columns],
        headers={k: v for k, v in mapping.items() if k != v},
        warnings=[
            f"column {name!r} is empty in every row"
            for name in present
            if n and checks[name].missing.all()
        ],
    )


def _duplicates(frame: pd.DataFrame, table: pa.Table, contract: Contract) -> np.ndarray:
    n = len(frame)
    if contract.duplicates == "keep" or n == 0:
        return np.zeros(n, dtype=bool)
    if contract.duplicates.startswith("drop_id"):
        keep = "last" if contract.duplicates.endswith("last") else "first"
        return frame.duplicated(subset=[contract.id_column], keep=keep).to_numpy()
    if contract.id_column and contract.id_column in frame:  # a unique id rules out identical rows
        ids = table.column(contract.id_column)
        if ids.null_count == 0 and len(pc.unique(ids)) == n:
            return np.zeros(n, dtype=bool)
    return frame.duplicated(keep="first").to_numpy()


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as a numpy mask (null -> False)."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def check_column(
    raw: pa.Array, col: Column, fmt: FileFormat = DEFAULT_FORMAT, *, is_target: bool = False
) -> ColumnCheck:
    text = pc.utf8_trim_whitespace(pc.fill_null(raw, ""))
    missing = _mask(pc.is_in(text, value_set=_MISSING))
    reasons: list[tuple[np.ndarray, str]] = []
    kind = col.type
    n = len(text)

    if kind in NUMBER_TYPES:
        numbers, not_number = parse_numbers(text, kind, fmt)
        invalid = (~missing) & not_number
        reasons.append((invalid.copy(), f"not a number ({kind.value})"))
        values = numbers.to_numpy(zero_copy_only=False)
        if kind == ColumnType.INT:
            with np.errstate(invalid="ignore"):
                fractional = (~invalid) & (~missing) & (np.nan_to_num(values) % 1 != 0)
            reasons.append((fractional, "not a whole number"))
            invalid |= fractional
        with np.errstate(invalid="ignore"):
            if col.min is not None:
                low = values < col.min
                reasons.append((low, f"below minimum {col.min:g}"))
                invalid |= low
            if col.max is not None:
                high = values > col.max
                reasons.append((high, f"above maximum {col.max:g}"))
                invalid |= high
        null = invalid | np.isnan(values)
        typed = pa.array(values, mask=null)
        out = pc.cast(typed, pa.int64()) if kind == ColumnType.INT else typed
    elif kind == ColumnType.DATETIME:
        out, unparsed = parse_datetimes(
            pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text), col.formats
        )
        invalid = (~missing) & unparsed
        shown = ", ".join(col.formats) if col.formats else "ISO 8601"
        reasons.append((invalid.copy(), f"not a date in the declared format(s): {shown}"))
    elif kind == ColumnType.BOOL:
        is_true = _mask(pc.is_in(text, value_set=_TRUE))
        is_false = _mask(pc.is_in(text, value_set=_FALSE))
        invalid = ~missing & ~is_true & ~is_false
        reasons.append((invalid.copy(), "not a boolean (expected yes/no, true/false, 1/0)"))
        out = pa.array(is_true, mask=missing | invalid)
    else:  # category, string: kept as text exactly (a "=HYPERLINK(...)" stays a string)
        invalid = np.zeros(n, dtype=bool)
        if kind == ColumnType.CATEGORY and col.categories is not None and col.unseen == "reject":
            unseen = (~missing) & ~_mask(
                pc.is_in(text, value_set=pa.array(col.categories, pa.string()))
            )
            reasons.append((unseen, f"not one of the allowed categories {col.categories}"))
            invalid |= unseen
        empty = missing | invalid
        out = (
            pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), text) if empty.any() else text
        )

    if is_target or not col.nullable:
        empty = missing & ~invalid
        reasons.append((empty, "missing value" + (" in the target" if is_target else "")))
        invalid = invalid | empty
    if invalid.any():
        out = pc.if_else(pa.array(invalid), pa.scalar(None, out.type), out)
    return ColumnCheck(values=out, missing=missing, invalid=invalid, reasons=reasons)


def parse_numbers(text: pa.Array, kind: ColumnType, fmt: FileFormat) -> tuple[pa.Array, np.ndarray]:
    """Text -> float64 (null where not a number). Money drops currency symbols/codes and reads
    (12.50) as -12.50; percent drops a trailing % and divides by 100. Thousands separators are
    removed only where they group digits in threes; a declared decimal comma becomes a point."""
    s = text
    negative = None
    if kind == ColumnType.MONEY:
        negative = _mask(pc.match_substring_regex(s, r"^\(.*\)$"))
        s = pc.replace_substring_regex(s, r"^\((.*)\)$", r"\1")
        s = pc.replace_substring_regex(s, _CURRENCY, "")
        s = pc.replace_substring_regex(s, r"^(-?)[$€£¥₹]", r"\1")
    elif kind == ColumnType.PERCENT:
        s = pc.replace_substring_regex(s, r"\s*%$", "")
    sep = fmt.thousands_separator
    if sep and pc.any(pc.match_substring(s, sep)).as_py():
        dec = "\\" + fmt.decimal
        grouped = rf"^[-+]?\d{{1,3}}(?:\{sep}\d{{3}})+(?:{dec}\d+)?$"
        s = pc.if_else(pc.match_substring_regex(s, grouped), pc.replace_substring(s, sep, ""), s)
    if fmt.decimal == ",":
        s = pc.replace_substring(s, ",", ".")
    ok = pc.match_substring_regex(s, NUMBER_PATTERN)
    numbers = pc.cast(pc.if_else(ok, s, pa.scalar(None, pa.string())), pa.float64())
    if negative is not None and negative.any():
        numbers = pc.if_else(pa.array(negative), pc.negate(numbers), numbers)
    if kind == ColumnType.PERCENT:
        numbers = pc.divide(numbers, 100.0)
    return numbers, ~_mask(pc.is_valid(numbers))


def parse_datetimes(text: pa.Array, formats: list[str] | None) -> tuple[pa.Array, np.ndarray]:
    """Try each declared format in order (default ISO 8601, a trailing zone converted to UTC);
    values matching none stay null and are reported."""
    series = pd.Series(text.to_pandas(), dtype=object)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    todo = series.notna().to_numpy().copy()
    for f in formats or ["ISO8601"]:
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        parsed = pd.to_datetime(series.iloc[idx], format=f, errors="coerce", utc=True)
        parsed = parsed.dt.tz_convert(None).astype("datetime64[ns]")
        ok = parsed.notna().to_numpy()
        out.iloc[idx[ok]] = parsed.to_numpy()[ok]
        todo[idx[ok]] = False
    return pa.array(out, pa.timestamp("ns")), out.isna().to_numpy()


def hash_values(values: pa.Array, salt: str) -> pa.Array:
    """The column under ``pii: hash`` (tabflow.pii: keyed by the salt; missing stays missing)."""
    return pa.array(pii.hash_many(values.to_pylist(), salt), pa.string())


def _quarantine_records(
    raw: RawTable,
    names: list[str],
    checks: dict[str, ColumnCheck],
    bad: np.ndarray,
    lines: np.ndarray,
) -> list[dict[str, Any]]:
    positions = np.flatnonzero(bad)
    if not len(positions):
        return []
    rows = raw.table.take(pa.array(positions)).to_pylist()
    out = []
    for p, row in zip(positions, rows, strict=True):
        values = {names[i]: v for i, v in enumerate(row.values())}
        problems = [
            {"column": name, "reason": check.reason(p), "value": values.get(name, "")}
            for name, check in checks.items()
            if check.invalid[p]
        ]
        out.append({"line": int(lines[p]), "problems": problems, "row": values})
    return out


def _column_summaries(
    text: dict[str, pa.Array],
    checks: dict[str, ColumnCheck],
    curated: pa.Table,
    top_value_columns: set[str],
) -> dict[str, dict[str, Any]]:
    """Per column: missing and invalid counts with examples; min/max/mean/median of numbers
    and dates; the most frequent values of categories and booleans (not of free text/ids)."""
    out: dict[str, dict[str, Any]] = {}
    for name, check in checks.items():
        bad_rows = np.flatnonzero(check.invalid & ~check.missing)
        examples = [
            {"value": text[name][int(p)].as_py(), "reason": check.reason(int(p))}
            for p in np.flatnonzero(check.invalid)[:EXAMPLES_PER_COLUMN]
        ]
        summary: dict[str, Any] = {
            "missing": int(check.missing.sum()),
            "invalid": int(len(bad_rows)),
            "invalid_examples": examples,
        }
        if name in curated.column_names:
            column = curated.column(name)
            kind = column.type
            if column.null_count < len(column):
                if pa.types.is_timestamp(kind):
                    mm = pc.min_max(column)
                    summary.update(min=str(mm["min"]), max=str(mm["max"]))
                elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
                    mm = pc.min_max(column)
                    summary.update(
                        min=float(mm["min"].as_py()),
                        max=float(mm["max"].as_py()),
                        mean=float(pc.mean(column).as_py()),
                        p50=float(pc.approximate_median(column).as_py()),
                    )
                elif pa.types.is_boolean(kind):
                    true = int(pc.sum(column).as_py() or 0)
                    summary["top_values"] = {
                        "true": true,
                        "false": len(column) - column.null_count - true,
                    }
                elif name in top_value_columns:
                    strings = column if pa.types.is_string(kind) else pc.cast(column, pa.string())
                    counts = pc.value_counts(pc.drop_null(strings))
                    summary["distinct"] = len(counts)
                    table = pa.table(
                        {"value": counts.field("values"), "count": counts.field("counts")}
                    )
                    top = pc.select_k_unstable(
                        table, k=min(10, len(counts)), sort_keys=[("count", "descending")]
                    )
                    summary["top_values"] = dict(
                        zip(
                            table.column("value").take(top).to_pylist(),
                            table.column("count").take(top).to_pylist(),
                            strict=True,
                        )
                    )
        out[name] = summary
    return out
