"""Turn the bytes of a dropped file into a table of raw text values.

Every value is read as text: typing is the contract's job (validation.py), so a value that
does not parse can be quarantined with its reason instead of silently becoming NaN. Rows
that cannot even be split into the header's columns (ragged rows, broken JSON lines) are
returned as ``broken`` with their line numbers, never dropped silently.

Handles CSV (delimiter, encoding and BOM sniffing, CRLF, quoted multi-line fields), gzip,
Parquet (numbers stored as strings included) and JSON Lines."""

import codecs
import csv
import gzip
import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tabflow.errors import SchemaError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DELIMITERS = ",;\t|"
BLOCK_SIZE = 8 << 20


@dataclass(frozen=True)
class BrokenRow:
    line: int
    reason: str
    text: str


@dataclass
class RawTable:
    table: pa.Table  # one string column per file column, in file order; nothing converted yet
    columns: list[str]  # the file's header names (may repeat: validation reports that)
    line_numbers: np.ndarray  # the file line each row starts on (the header is line 1)
    fmt: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    broken: list[BrokenRow] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.table.num_rows + len(self.broken)

    @property
    def frame(self) -> pd.DataFrame:
        """The raw text as a DataFrame (for tools and tests; validation reads ``table``)."""
        frame = self.table.to_pandas()
        frame.columns = self.columns
        return frame


def normalise_header(name: str) -> str:
    """'  Monthly Charges ($) ' -> 'monthly_charges'; 'customerID' -> 'customerid'."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def read_table(
    data: bytes, *, name: str, encoding: str = "auto", delimiter: str = "auto"
) -> RawTable:
    """Read CSV, CSV.gz, Parquet or JSON Lines. Raises SchemaError naming the file."""
    lower = name.lower()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SchemaError(f"{name}: not a valid gzip file ({exc})", file=name) from exc
        lower = lower.removesuffix(".gz")
    elif lower.endswith(".gz"):
        raise SchemaError(f"{name}: named .gz but is not gzip-compressed", file=name)
    if not data or data.isspace():
        raise SchemaError(f"{name}: the file is empty", file=name)

    if data[:4] == PARQUET_MAGIC or lower.endswith(".parquet"):
        return _read_parquet(data, name)
    text_encoding = _detect_encoding(data, name) if encoding == "auto" else encoding
    if text_encoding in ("utf-8", "utf-8-sig"):  # pyarrow reads UTF-8 bytes as they are
        payload = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        if b"\x00" in payload:
            raise SchemaError(
                f"{name}: contains NUL characters: binary data or a wrong encoding", file=name
            )
    else:
        payload = _decode(data, text_encoding, name).encode("utf-8")
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return _read_jsonl(_decode(payload, "utf-8", name), name, text_encoding)
    return _read_csv(payload, name, text_encoding, delimiter)


# ---------------------------------------------------------------- encodings
def _detect_encoding(data: bytes, name: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = data[:4096]
    if head.count(b"\x00") > len(head) // 4:  # UTF-16 without a BOM: every other byte is NUL
        return "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
    if b"\x00" in head or _control_share(head) > 0.05:
        raise SchemaError(f"{name}: looks like binary data, not a text table", file=name)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=True)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"  # Windows/Excel exports; every byte decodes (Latin-1 superset)


def _control_share(head: bytes) -> float:
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls / max(1, len(head))


def _decode(data: bytes, encoding: str, name: str) -> str:
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        if encoding == "cp1252":  # 5 bytes are undefined in cp1252: fall back to Latin-1
            return data.decode("latin-1")
        raise SchemaError(f"{name}: cannot be decoded as {encoding} ({exc})", file=name) from exc
    if "\x00" in text:
        raise SchemaError(
            f"{name}: contains NUL characters: binary data or a wrong encoding", file=name
        )
    return text


# ---------------------------------------------------------------- CSV
def sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    header = sample.split("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = None
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if found and counts.get(found, 0) > 0 and counts[found] >= counts[best] / 2:
        return found
    return best if counts[best] else ","


def _read_csv(payload: bytes, name: str, encoding: str, delimiter: str) -> RawTable:
    head = payload[:65536].decode("utf-8", errors="ignore")
    sep = sniff_delimiter(head) if delimiter == "auto" else delimiter
    header_line = next(csv.reader(io.StringIO(head.split("\n", 1)[0]), delimiter=sep), [])
    columns = [c.strip() for c in header_line]
    if not any(columns):
        raise SchemaError(f"{name}: the first line holds no column names", file=name)

    def read(
        threads: bool, multiline: bool, block: int = BLOCK_SIZE
    ) -> tuple[pa.Table, list[pacsv.InvalidRow]]:
        invalid: list[pacsv.InvalidRow] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            invalid.append(row)
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(payload),
                read_options=pacsv.ReadOptions(
                    use_threads=threads,
                    skip_rows=1,
                    column_names=[f"c{i}" for i in range(len(columns))],
                    block_size=block,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=sep, newlines_in_values=multiline, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={f"c{i}": pa.string() for i in range(len(columns))},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            if "straddling" in str(exc) and block < len(payload):  # a record larger than a block
                return read(threads, multiline, len(payload) + 1)
            raise SchemaError(f"{name}: cannot be parsed as CSV ({exc})", file=name) from exc
        return table, invalid

    quoted = b'"' in payload  # only a quoted value can hold a line break
    table, invalid = read(threads=not quoted, multiline=quoted)
    if invalid and not quoted:  # only a single-threaded read numbers the broken rows
        table, invalid = read(threads=False, multiline=False)
    newlines = np.zeros(table.num_rows, dtype=np.int64)
    if quoted:
        for column in table.columns:
            newlines += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
    lines, broken = _line_numbers(newlines, invalid, len(columns))
    return RawTable(table, columns, lines, "csv", encoding, sep, broken)


def _line_numbers(
    newlines: np.ndarray, invalid: list[pacsv.InvalidRow], n_columns: int
) -> tuple[np.ndarray, list[BrokenRow]]:
    """Physical start line of every row, from the number of line breaks inside each record.

    pyarrow numbers records (header = 1, skipped rows included), not lines: a quoted field
    that spans lines shifts every later line, so lines are rebuilt with a running sum."""
    n_valid = len(newlines)
    total = n_valid + len(invalid)
    spans = np.ones(total, dtype=np.int64)  # lines each record occupies
    valid_mask = np.ones(total, dtype=bool)
    for row in invalid:
        idx = (row.number or 0) - 2  # record number -> 0-based data row
        if 0 <= idx < total:
            valid_mask[idx] = False
            spans[idx] = 1 + row.text.count("\n")
    spans[valid_mask] = 1 + newlines
    starts = 2 + np.concatenate([[0], np.cumsum(spans)[:-1]])
    broken = [
        BrokenRow(
            int(starts[(row.number or 0) - 2]) if 0 <= (row.number or 0) - 2 < total else -1,
            f"expected {n_columns} fields, found {row.actual_columns}",
            row.text[:1000],
        )
        for row in invalid
    ]
    return starts[valid_mask], broken


# ---------------------------------------------------------------- Parquet, JSON Lines
def _read_parquet(data: bytes, name: str) -> RawTable:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise SchemaError(f"{name}: cannot be read as Parquet ({exc})", file=name) from exc
    text = []
    for col_name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_nested(column.type):
            raise SchemaError(
                f"{name}: column {col_name!r} is nested ({column.type}); flatten it first",
                file=name,
            )
        as_text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
        text.append(pc.fill_null(as_text, ""))
    out = pa.table(text, names=[f"c{i}" for i in range(len(text))])
    return RawTable(out, list(table.column_names), np.arange(1, table.num_rows + 1), "parquet")


def _read_jsonl(text: str, name: str, encoding: str) -> RawTable:
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    broken: list[BrokenRow] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            broken.append(
                BrokenRow(number, f"not valid JSON ({exc.msg} at column {exc.colno})", line[:1000])
            )
            continue
        if not isinstance(doc, dict):
            broken.append(BrokenRow(number, "a line must hold a JSON object", line[:1000]))
            continue
        rows.append({k: _json_text(v) for k, v in doc.items()})
        columns.update(dict.fromkeys(doc))
        lines.append(number)
    names = list(columns)
    table = pa.table(
        [pa.array([r.get(c, "") for r in rows], pa.string()) for c in names],
        names=[f"c{i}" for i in range(len(names))],
    )
    return RawTable(
        table, names, np.asarray(lines, dtype=np.int64), "jsonl", encoding, None, broken
    )


def _json_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
