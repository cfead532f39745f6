"""Type whole file columns by the rules of values.py, for ingest and batch scoring.

Booleans and categories are typed by ``values.parse_text`` itself, once per distinct
spelling (a dictionary encoding), so their meaning is the API's by construction. Numbers and
date-times, which can have a distinct value per row, run as vectorised Arrow (pandas for
dates) kernels built from the same patterns; the shared table in
tests/unit/test_one_meaning.py checks both paths give the same value or the same reason."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tabflow.values import (
    CURRENCY_AFFIXES,
    CURRENCY_AFTER_MINUS,
    DATE_MAX,
    DATE_MIN,
    INT_LIMIT,
    MISSING_TARGET,
    MISSING_VALUE,
    NOT_WHOLE,
    NUMBER_PATTERN,
    PERCENT_SIGN,
    TOO_LARGE_INT,
    ValueRule,
    above_maximum,
    below_minimum,
    date_formats,
    not_a_date,
    not_a_number,
    parse_text,
)

ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "money": pa.float64(),
    "percent": pa.float64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("ns"),
    "category": pa.string(),
    "string": pa.string(),
}
MAX_CASE_VARIANTS = 4096


@dataclass
class ColumnCheck:
    values: pa.Array  # typed values, null where missing or invalid
    missing: np.ndarray  # bool mask: a missing marker
    invalid: np.ndarray  # bool mask: the row is quarantined for this column
    reasons: list[tuple[np.ndarray, str]]  # (mask, reason); a later mask wins for a row
    outside: int = 0  # accepted values outside the column's warn_min/warn_max

    def reason(self, row: int) -> str:
        found = ""
        for mask, text in self.reasons:
            if mask[row]:
                found = text
        return found


def mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as a numpy mask (null -> False)."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _any_case(words: frozenset[str]) -> pa.Array | None:
    """Every upper/lower-case spelling of short words: matching against these sets avoids
    lower-casing whole columns (a copy of every value). None when there would be too many."""
    out: set[str] = set()
    for word in words:
        variants = [""]
        for ch in word:
            variants = [v + c for v in variants for c in {ch.lower(), ch.upper()}]
            if len(variants) > MAX_CASE_VARIANTS:
                return None
        out.update(variants)
    return pa.array(sorted(out), pa.string())


_CASES: dict[frozenset[str], pa.Array | None] = {}


def missing_mask(text: pa.Array, markers: frozenset[str]) -> np.ndarray:
    if markers not in _CASES:
        _CASES[markers] = _any_case(markers)
    spellings = _CASES[markers]
    if spellings is None:
        return mask(pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(markers))))
    return mask(pc.is_in(text, value_set=spellings))


def check_column(raw: pa.Array, rule: ValueRule) -> ColumnCheck:
    """Type one file column (text) by its rule; invalid rows carry their reason."""
    if rule.type in ("bool", "category"):
        return _by_spelling(pc.fill_null(raw, ""), rule)
    text = pc.utf8_trim_whitespace(pc.fill_null(raw, ""))
    missing = missing_mask(text, rule.missing)
    reasons: list[tuple[np.ndarray, str]] = []
    outside = 0
    if rule.type == "datetime":
        out, unparsed = parse_datetimes(
            pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text), rule.formats
        )
        invalid = (~missing) & unparsed
        reasons.append((invalid.copy(), not_a_date(rule.formats)))
    elif rule.type == "string":  # kept as text exactly (a "=HYPERLINK(...)" stays a string)
        invalid = np.zeros(len(text), dtype=bool)
        out = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)
    else:
        out, invalid, outside = _number_column(text, rule, missing, reasons)
    if rule.target or not rule.nullable:
        empty = missing & ~invalid
        reasons.append((empty, MISSING_TARGET if rule.target else MISSING_VALUE))
        invalid = invalid | empty
    if invalid.any():
        out = pc.if_else(pa.array(invalid), pa.scalar(None, out.type), out)
    return ColumnCheck(out, missing, invalid, reasons, outside)


def _number_column(
    text: pa.Array, rule: ValueRule, missing: np.ndarray, reasons: list
) -> tuple[pa.Array, np.ndarray, int]:
    kind = rule.type
    numbers, not_number = parse_numbers(text, kind, rule)
    values = numbers.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        not_number |= ~np.isfinite(values)
    invalid = (~missing) & not_number
    reasons.append((invalid.copy(), not_a_number(kind)))
    with np.errstate(invalid="ignore"):
        if kind == "int":
            finite = np.where(invalid | missing, 0.0, values)
            huge = np.abs(finite) >= INT_LIMIT
            fractional = ~huge & (finite % 1 != 0)
            reasons.append((fractional, NOT_WHOLE))
            invalid = invalid | fractional
        if rule.min is not None:
            low = values < rule.min
            reasons.append((low, below_minimum(rule.min)))
            invalid = invalid | low
        if rule.max is not None:
            high = values > rule.max
            reasons.append((high, above_maximum(rule.max)))
            invalid = invalid | high
        if kind == "int":  # named last: int64 cannot hold it whatever else is wrong
            reasons.append((huge, TOO_LARGE_INT))
            invalid = invalid | huge
        ok = ~invalid & ~missing
        outside = np.zeros(len(values), dtype=bool)
        if rule.warn_min is not None:
            outside |= values < rule.warn_min
        if rule.warn_max is not None:
            outside |= values > rule.warn_max
    null = invalid | missing
    typed = pa.array(np.where(null, 0.0, values), mask=null)
    out = pc.cast(typed, pa.int64()) if kind == "int" else typed
    return out, invalid, int((outside & ok).sum())


def _by_spelling(raw: pa.Array, rule: ValueRule) -> ColumnCheck:
    """Type each distinct spelling once with values.parse_text, then spread to the rows."""
    encoded = pc.dictionary_encode(raw)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    parsed = [parse_text(rule, s) for s in encoded.dictionary.to_pylist()]
    rows = encoded.indices.to_numpy(zero_copy_only=False)
    kind = ARROW_TYPES[rule.type]
    values = pa.array([p.value for p in parsed], kind).take(encoded.indices)
    missing = np.array([p.missing for p in parsed], dtype=bool)[rows]
    problems = [p.problem for p in parsed]
    invalid = np.array([p is not None for p in problems], dtype=bool)[rows]
    codes = {reason: k for k, reason in enumerate(dict.fromkeys(p for p in problems if p))}
    per_row = np.array([codes.get(p, -1) for p in problems], dtype=np.int64)[rows]
    reasons = [(per_row == k, reason) for reason, k in codes.items()]
    return ColumnCheck(values, missing, invalid, reasons)


def parse_numbers(text: pa.Array, kind: str, fmt: object) -> tuple[pa.Array, np.ndarray]:
    """Text -> float64 (null where not a number), the vectorised ``values.parse_number``:
    money drops currency symbols/codes and reads (12.50) as -12.50; percent drops a trailing
    % and divides by 100; thousands separators go only where they group digits in threes; a
    decimal comma becomes a point. ``fmt``: anything with ``decimal`` and
    ``thousands_separator`` (a contract FileFormat or a ValueRule)."""
    kind = str(getattr(kind, "value", kind))
    s = text
    negative = None
    if kind == "money":
        negative = mask(pc.match_substring_regex(s, r"^\(.*\)$"))
        s = pc.replace_substring_regex(s, r"^\((.*)\)$", r"\1")
        s = pc.replace_substring_regex(s, CURRENCY_AFFIXES, "")
        s = pc.replace_substring_regex(s, CURRENCY_AFTER_MINUS, r"\1")
    elif kind == "percent":
        s = pc.replace_substring_regex(s, PERCENT_SIGN, "")
    sep = fmt.thousands_separator  # type: ignore[attr-defined]
    decimal = fmt.decimal  # type: ignore[attr-defined]
    if sep and pc.any(pc.match_substring(s, sep)).as_py():
        dec = "\\" + decimal
        grouped = rf"^[-+]?\d{{1,3}}(?:\{sep}\d{{3}})+(?:{dec}\d+)?$"
        s = pc.if_else(pc.match_substring_regex(s, grouped), pc.replace_substring(s, sep, ""), s)
    if decimal == ",":
        s = pc.replace_substring(s, ",", ".")
    ok = pc.match_substring_regex(s, NUMBER_PATTERN)
    numbers = pc.cast(pc.if_else(ok, s, pa.scalar(None, pa.string())), pa.float64())
    if negative is not None and negative.any():
        numbers = pc.if_else(pa.array(negative), pc.negate(numbers), numbers)
    if kind == "percent":
        numbers = pc.divide(numbers, 100.0)
    return numbers, ~mask(pc.is_valid(numbers))


def parse_datetimes(
    text: pa.Array, formats: list[str] | tuple | None
) -> tuple[pa.Array, np.ndarray]:
    """Try each declared format in order, then ISO 8601 (a trailing zone converted to UTC);
    values matching none stay null and are reported."""
    series = pd.Series(text.to_pandas(), dtype=object)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    todo = series.notna().to_numpy().copy()
    for f in date_formats(formats):
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        parsed = pd.to_datetime(series.iloc[idx], format=f, errors="coerce", utc=True)
        parsed = parsed.dt.tz_convert(None)
        inside = parsed.notna() & (parsed >= DATE_MIN) & (parsed <= DATE_MAX)  # what ns holds
        parsed = parsed.where(inside).astype("datetime64[ns]")
        ok = parsed.notna().to_numpy()
        out.iloc[idx[ok]] = parsed.to_numpy()[ok]
        todo[idx[ok]] = False
    return pa.array(out, pa.timestamp("ns")), out.isna().to_numpy()
