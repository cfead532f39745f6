"""The quarantine of a file: every rejected row with its raw values and its reason(s).

One Arrow table, built with whole-column kernels (never a Python object per row: a file
whose every row is wrong costs about what a valid file of the same size costs), written as
Parquet (zstd; each column's reasons dictionary-encoded, so a reason repeated a million times
is stored once). Columns:

- ``line`` (int64): the file line the row starts on (the header is line 1; for a Parquet file,
  the row number);
- ``unreadable`` (string): why the line could not be read as a row at all (a wrong number of
  fields, an unclosed quote...), null for the rows that were read;
- ``text`` (string): the raw text of such a line, null for the rows that were read;
- ``reasons`` (struct): one field per column found wrong in some row, holding the reason for
  this row, null where its value is fine;
- ``row`` (struct): the row's raw values, one field per file column (named as in the contract
  when the header maps to a contract column, else as in the file).

Nothing is lost: each quarantined row is one line of this table, with every column's reason.
``records()`` gives the same rows as dictionaries (for tools and tests on small files)."""

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tabflow.ports import ObjectStore
from tabflow.rawtable import BrokenRow
from tabflow.value_columns import ColumnCheck

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
UNNAMED_REASON = "invalid value"  # a row flagged by a check that named no reason (not expected)


@dataclass
class Quarantine:
    table: pa.Table

    def __len__(self) -> int:
        return self.table.num_rows

    def __bool__(self) -> bool:
        return self.table.num_rows > 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.records()

    def records(self, batch_rows: int = 10_000) -> Iterator[dict[str, Any]]:
        """Each row as ``{"line", "problems": [{"column", "reason", "value"}], "row"}``
        (a row that could not be read: column None, and its text as value and ``row._raw``).
        Built batch by batch: only for tools and tests, the pipeline never needs them."""
        for batch in self.table.to_batches(max_chunksize=batch_rows):
            for item in batch.to_pylist():
                if item["unreadable"] is not None:
                    yield {
                        "line": item["line"],
                        "problems": [
                            {"column": None, "reason": item["unreadable"], "value": item["text"]}
                        ],
                        "row": {"_raw": item["text"]},
                    }
                    continue
                row = item["row"] or {}
                problems = [
                    {"column": column, "reason": reason, "value": row.get(column)}
                    for column, reason in (item["reasons"] or {}).items()
                    if reason is not None
                ]
                yield {"line": item["line"], "problems": problems, "row": row}

    def reason_counts(self) -> dict[str, int]:
        """``"column: reason"`` -> how many rows, most frequent first (vectorised)."""
        counts: dict[str, int] = {}
        reasons = self.table.column("reasons").combine_chunks()
        for i in range(reasons.type.num_fields if pa.types.is_struct(reasons.type) else 0):
            name = reasons.type.field(i).name
            found = pc.value_counts(pc.drop_null(reasons.field(i)))
            for value, n in zip(
                found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
            ):
                counts[f"{name}: {value}"] = counts.get(f"{name}: {value}", 0) + n
        unreadable = pc.value_counts(pc.drop_null(self.table.column("unreadable")))
        for value, n in zip(
            unreadable.field("values").to_pylist(),
            unreadable.field("counts").to_pylist(),
            strict=True,
        ):
            counts[f"None: {value}"] = n
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def to_parquet(self) -> bytes:
        return parquet_bytes(self.table)


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_quarantine(
    store: ObjectStore, prefix_uri: str, quarantined: Quarantine, duplicates: pd.DataFrame
) -> dict[str, str]:
    """The rejected rows (with their reasons) and the dropped duplicates as Parquet files under
    ``prefix_uri`` (the raw bucket's quarantine/); returns their URIs for the report."""
    uris = {}
    if quarantined:
        uris["quarantine_uri"] = f"{prefix_uri}/rejected_rows.parquet"
        store.put(uris["quarantine_uri"], quarantined.to_parquet(), PARQUET_CONTENT_TYPE)
    if len(duplicates):
        uris["duplicates_uri"] = f"{prefix_uri}/duplicates.parquet"
        table = pa.Table.from_pandas(duplicates, preserve_index=False)
        store.put(uris["duplicates_uri"], parquet_bytes(table), PARQUET_CONTENT_TYPE)
    return uris


def read_quarantine(data: bytes) -> Quarantine:
    """A quarantine file back (what a user or a test reads from ``quarantine/``)."""
    return Quarantine(pq.read_table(io.BytesIO(data)))


def build_quarantine(
    raw_table: pa.Table,
    names: Sequence[str],
    checks: dict[str, ColumnCheck],
    bad: np.ndarray,
    lines: np.ndarray,
    broken: Sequence[BrokenRow] = (),
) -> Quarantine:
    """The rows of ``raw_table`` flagged in ``bad`` (with each check's reason where its
    ``invalid`` mask is set), plus the lines that could not be read, in line order."""
    positions = np.flatnonzero(bad)
    every_row = len(positions) == raw_table.num_rows
    taken = raw_table if every_row else raw_table.take(pa.array(positions))
    reasons = {
        name: _reason_column(check, positions, every_row)
        for name, check in checks.items()
        if check.invalid.any() and check.invalid[positions].any()
    }
    # Parquet has no empty struct: without a column reason (only unreadable lines), null
    reasons_type = (
        pa.struct([pa.field(k, v.type) for k, v in reasons.items()]) if reasons else pa.null()
    )
    values = [c.combine_chunks() if c.num_chunks != 1 else c.chunk(0) for c in taken.columns]
    row = pa.StructArray.from_arrays(
        values, fields=[pa.field(n, v.type) for n, v in zip(names, values, strict=True)]
    )
    if reasons:
        reason_struct = pa.StructArray.from_arrays(
            list(reasons.values()), fields=list(reasons_type)
        )
    else:
        reason_struct = pa.nulls(len(positions), reasons_type)
    table = pa.table(
        {
            "line": pa.array(np.asarray(lines)[positions].astype(np.int64)),
            "unreadable": pa.nulls(len(positions), pa.string()),
            "text": pa.nulls(len(positions), pa.string()),
            "reasons": reason_struct,
            "row": row,
        }
    )
    if broken:
        extra = pa.table(
            {
                "line": pa.array([b.line for b in broken], pa.int64()),
                "unreadable": pa.array([b.reason for b in broken], pa.string()),
                "text": pa.array([b.text for b in broken], pa.string()),
                "reasons": pa.nulls(len(broken), reasons_type),
                "row": pa.nulls(len(broken), row.type),
            }
        )
        table = pa.concat_tables([table, extra])
        table = table.take(pc.sort_indices(table, sort_keys=[("line", "ascending")]))
    return Quarantine(table)


def _reason_column(check: ColumnCheck, positions: np.ndarray, every_row: bool) -> pa.Array:
    """The reason of each quarantined row for one column (null where the value is fine), as
    dictionary codes: the reason of a row is the last of the check's reasons whose mask holds
    it (ColumnCheck.reason, for all rows at once)."""
    texts = list(dict.fromkeys(text for _, text in check.reasons)) + [UNNAMED_REASON]
    code_of = {text: k for k, text in enumerate(texts)}
    codes = np.full(len(check.invalid), -1, dtype=np.int32)
    for reason_mask, text in check.reasons:
        codes[reason_mask] = code_of[text]
    invalid = check.invalid if every_row else check.invalid[positions]
    codes = codes if every_row else codes[positions]
    codes[invalid & (codes < 0)] = code_of[UNNAMED_REASON]
    small = np.int8 if len(texts) < 127 else np.int16 if len(texts) < 32_000 else np.int32
    indices = pa.array(codes.astype(small), mask=~invalid)
    return pa.DictionaryArray.from_arrays(indices, pa.array(texts, pa.string()))
