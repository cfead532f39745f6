"""Parquet and JSON Lines to a raw table of text, within the limits (limits.py)."""

import json
from array import array
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tabflow.errors import SchemaError
from tabflow.limits import (
    BYTES_PER_VALUE,
    DEFAULT_MAX_BYTES,
    max_broken_rows,
    too_big,
    too_many_broken,
    too_many_values,
)
from tabflow.rawtable import BrokenRow, RawTable

PARQUET_BATCH_ROWS = 16384
JSON_CHUNK_VALUES = 500_000  # Python objects held before a chunk becomes Arrow arrays


def read_parquet(
    data: bytes | bytearray, name: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> RawTable:
    """Row group by row group, in batches: a Parquet file is compressed (and may be dictionary
    or run-length encoded), so its size says little about what it expands to. The metadata
    bounds the values (rows x columns) before anything is decoded; dictionary-encoded text
    is measured before it is expanded; the text of every batch is counted against the limit."""
    try:
        schema = pq.read_schema(pa.BufferReader(data))
        binary = [f.name for f in schema if _is_text(f.type)]
        parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=binary or None)
        meta = parquet.metadata
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise SchemaError(f"{name}: cannot be read as Parquet ({exc})", file=name) from exc
    for field_ in schema:
        if pa.types.is_nested(field_.type):
            raise SchemaError(
                f"{name}: column {field_.name!r} is nested ({field_.type}); flatten it first",
                file=name,
            )
    rows, width = meta.num_rows, len(schema)
    if rows * max(width, 1) > max_bytes // BYTES_PER_VALUE:
        raise SchemaError(too_many_values(name, rows, width, max_bytes), file=name)
    parts: list[list[pa.Array]] = [[] for _ in range(width)]
    text_bytes = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
            for i, column in enumerate(batch.columns):
                text_bytes += _expanded_size(column)
                if text_bytes > max_bytes:
                    raise SchemaError(
                        too_big(name, f"more than {max_bytes} bytes of values", max_bytes),
                        file=name,
                    )
                parts[i].append(_as_text(column))
    except SchemaError:
        raise
    except Exception as exc:  # a corrupt page surfaces only when it is decoded
        raise SchemaError(f"{name}: cannot be read as Parquet ({exc})", file=name) from exc
    out = pa.table(
        [pa.chunked_array(p, pa.string()) for p in parts],
        names=[f"c{i}" for i in range(width)],
    )
    return RawTable(out, list(schema.names), np.arange(1, out.num_rows + 1), "parquet")


def _expanded_size(column: pa.Array) -> int:
    """Bytes of ``column`` once it is text, measured before expanding a dictionary."""
    if pa.types.is_dictionary(column.type):
        lengths = pc.binary_length(column.dictionary).fill_null(0)
        taken = pc.take(lengths, column.indices)
        return int(pc.sum(taken).as_py() or 0) + BYTES_PER_VALUE * len(column)
    if _is_text(column.type):
        return int(column.nbytes)
    return 24 * len(column)  # a number or a date as text: at most about 24 characters


def _is_text(kind: pa.DataType) -> bool:
    return any(
        check(kind)
        for check in (
            pa.types.is_string,
            pa.types.is_binary,
            pa.types.is_large_string,
            pa.types.is_large_binary,
        )
    )


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    as_text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    return pc.fill_null(as_text, "")


def read_jsonl(text: str, name: str, encoding: str, max_bytes: int = DEFAULT_MAX_BYTES) -> RawTable:
    """One JSON object per line. Lines are converted to Arrow in chunks, so Python objects
    never hold more than a chunk; keys that appear in only some lines still make a column
    for every row, so rows x keys is bounded before the table is built."""
    columns: dict[str, None] = {}
    chunks: list[tuple[int, dict[str, pa.Array]]] = []  # (rows, column -> text)
    rows: list[dict[str, str]] = []
    lines = array("q")  # 8 bytes a row, not a Python int each
    chunk_values = 0
    broken: list[BrokenRow] = []
    max_values, max_broken = max_bytes // BYTES_PER_VALUE, max_broken_rows(max_bytes)
    n_rows = 0

    def flush() -> None:
        nonlocal chunk_values
        chunk_values = 0
        if rows:
            keys = dict.fromkeys(k for r in rows for k in r)
            chunks.append(
                (len(rows), {k: pa.array([r.get(k, "") for r in rows], pa.string()) for k in keys})
            )
            rows.clear()

    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        problem = ""
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg} at column {exc.colno})"
        except RecursionError:
            problem = "not valid JSON (nested too deeply)"
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            problem = f"not valid JSON ({exc})"
        else:
            if not isinstance(doc, dict):
                problem = "a line must hold a JSON object"
        if problem:
            broken.append(BrokenRow(number, problem, line[:1000]))
            if len(broken) > max_broken:
                raise SchemaError(too_many_broken(name, max_broken), file=name)
            continue
        try:
            rows.append({k: _json_text(v) for k, v in doc.items()})
        except (RecursionError, ValueError) as exc:
            broken.append(BrokenRow(number, f"a value cannot be kept as text ({exc})", line[:1000]))
            continue
        columns.update(dict.fromkeys(doc))
        lines.append(number)
        n_rows += 1
        chunk_values += len(doc) + 1
        if n_rows * len(columns) > max_values:
            raise SchemaError(too_many_values(name, n_rows, len(columns), max_bytes), file=name)
        if chunk_values >= JSON_CHUNK_VALUES:
            flush()
    flush()
    names = list(columns)
    table = pa.table(
        [
            pa.chunked_array(
                [
                    part.get(c) or pc.fill_null(pa.nulls(size, pa.string()), "")
                    for size, part in chunks
                ],
                pa.string(),
            )
            for c in names
        ],
        names=[f"c{i}" for i in range(len(names))],
    )
    return RawTable(
        table, names, np.asarray(lines, dtype=np.int64), "jsonl", encoding, None, broken
    )


def _lines(text: str) -> Iterator[str]:
    """The lines of a text one at a time (a list of every line would cost an object each)."""
    sep = "\n" if "\n" in text or "\r" not in text else "\r"  # "\r" alone: old Mac files
    start = 0
    while start < len(text):
        end = text.find(sep, start)
        end = len(text) if end == -1 else end
        yield text[start:end].rstrip("\r")
        start = end + 1


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
