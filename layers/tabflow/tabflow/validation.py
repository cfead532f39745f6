"""Check a raw table against its contract: type every value, quarantine what is wrong.

Nothing is dropped silently: every input row ends up in exactly one of curated, quarantined
(with line, column and reason) or duplicates, and ``counts`` proves it. The checks run as
vectorised Arrow kernels over whole columns; Python only touches the rows that are bad."""

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tabflow import pii
from tabflow.contract import Contract
from tabflow.errors import SchemaError
from tabflow.field_names import match_names, name_lookup
from tabflow.quarantine import Quarantine, build_quarantine
from tabflow.readers import RawTable
from tabflow.value_columns import ARROW_TYPES, ColumnCheck, check_column
from tabflow.values import rules_for

EXAMPLES_PER_COLUMN = 5


@dataclass
class ValidationResult:
    curated: pd.DataFrame
    quarantined: Quarantine  # every rejected row, its raw values and reasons (Arrow, compact)
    duplicates: pd.DataFrame
    counts: dict[str, int]
    columns: dict[str, dict[str, Any]]
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per curated row
    ignored_columns: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # renamed file headers
    warnings: list[str] = field(default_factory=list)

    @property
    def bad_share(self) -> float:
        return (
            self.counts["quarantined"] / self.counts["rows_in"] if self.counts["rows_in"] else 0.0
        )


def map_headers(columns: list[str], contract: Contract, *, file: str) -> dict[str, str]:
    """File header -> contract column, by name or alias with case, spaces and punctuation
    ignored (field_names.name_key). Two file headers that land on the same name are a schema error."""
    lookup = name_lookup(rules_for(contract).values())
    mapping, clashes = match_names(columns, lookup)
    if clashes:
        first, second, target = clashes[0]
        raise SchemaError(
            f"{file}: headers {first!r} and {second!r} both name column {target!r}",
            file=file,
            problems=[f"duplicate header {b!r} (same as {a!r})" for a, b, _ in clashes],
        )
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
    rules = rules_for(contract)
    if for_scoring:
        rules[target] = replace(rules[target], target=False)
    # Arrow kernels release the GIL: columns are checked in parallel on the cores there are.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(check_column, text[name], rules[name]) for name in present}
        checks = {name: f.result() for name, f in futures.items()}
    bad = np.zeros(n, dtype=bool)
    for check in checks.values():
        bad |= check.invalid
    lines = np.asarray(raw.line_numbers)
    quarantined = build_quarantine(raw.table, names, checks, bad, lines, raw.broken)

    arrays: dict[str, pa.Array] = {}
    for name, col in contract.columns.items():
        if col.pii == "drop":
            continue
        values = checks[name].values if name in checks else pa.nulls(n, ARROW_TYPES[col.type.value])
        if col.pii == "hash":
            values = hash_values(values, salt)
        arrays[name] = values
    good = pa.table(arrays).filter(pa.array(~bad))
    curated_all = good.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get
    )
    dup_mask = _duplicates(curated_all, good, contract)
    good_lines = lines[~bad]
    duplicates = curated_all[dup_mask].assign(_line=good_lines[dup_mask])
    curated = curated_all[~dup_mask].reset_index(drop=True) if dup_mask.any() else curated_all

    counts = {
        "rows_in": n + len(raw.broken),
        "curated": len(curated),
        "quarantined": len(quarantined),  # the rows of the quarantine file, counted
        "duplicates": int(dup_mask.sum()),
    }
    assert counts["rows_in"] == counts["curated"] + counts["quarantined"] + counts["duplicates"]
    return ValidationResult(
        curated=curated,
        quarantined=quarantined,
        lines=good_lines[~dup_mask] if dup_mask.any() else good_lines,
        duplicates=duplicates.reset_index(drop=True),
        counts=counts,
        columns=_column_summaries(
            text,
            checks,
            good.filter(pa.array(~dup_mask)) if dup_mask.any() else good,
            {n for n, c in contract.columns.items() if c.type.value in ("category", "bool")},
        ),
        ignored_columns=[c for c in names if c not in contract.columns],
        headers={k: v for k, v in mapping.items() if k != v},
        warnings=[
            f"column {name!r} is empty in every row"
            for name in present
            if n and checks[name].missing.all()
        ]
        + [
            f"column {name!r}: {checks[name].outside} value(s) outside the expected range "
            f"[{_bound(rules[name].warn_min)}, {_bound(rules[name].warn_max)}] (accepted)"
            for name in present
            if checks[name].outside
        ],
    )


def _bound(limit: float | None) -> str:
    return "none" if limit is None else f"{limit:g}"


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


def hash_values(values: pa.Array, salt: str) -> pa.Array:
    """The column under ``pii: hash`` (tabflow.pii: keyed by the salt; missing stays missing)."""
    return pa.array(pii.hash_many(values.to_pylist(), salt), pa.string())


def _column_summaries(
    text: dict[str, pa.Array],
    checks: dict[str, ColumnCheck],
    curated: pa.Table,
    top_value_columns: set[str],
) -> dict[str, dict[str, Any]]:
    """Per column: missing and invalid counts with examples; min/max/mean/median of numbers
    and dates; the most frequent values of categories and booleans (not of free text/ids)."""
    out: dict[str, dict[str, Any]] = {}
    curated_index = {n: i for i, n in enumerate(curated.column_names)}  # once: O(columns)
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
        if check.outside:
            summary["outside_expected_range"] = check.outside
        if name in curated_index:
            column = curated.column(curated_index[name])
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
