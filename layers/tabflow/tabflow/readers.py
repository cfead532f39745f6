"""Turn the bytes of a dropped file into a table of raw text values.

Every value is read as text: typing is the contract's job (validation.py), so a value that
does not parse can be quarantined with its reason instead of silently becoming NaN. Rows
that cannot even be split into the header's columns (ragged rows, broken JSON lines) are
returned as ``broken`` with their line numbers, never dropped silently.

Handles CSV (delimiter, encoding and BOM sniffing, CRLF, quoted multi-line fields), gzip,
Parquet (numbers stored as strings included) and JSON Lines.

Sizes are bounded before they can exhaust memory (``max_bytes``): gzip is decompressed as a
stream that stops at the limit; Parquet is checked from its metadata (rows x columns) and read
in batches whose decoded text is counted (dictionary-encoded values are measured before they
are expanded); JSON Lines are converted in chunks and refused when sparse keys would make the
table too large. A file over a limit is a SchemaError naming the limit."""

import codecs
import csv
import io
import json
import re
import zlib
from collections.abc import Iterator
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
# The default bound on a file's size after decompression (the ingest and batch functions pass
# their MaxDecompressedBytes setting). Reading and validating costs several times this.
DEFAULT_MAX_BYTES = 128 << 20
# Every value of a table costs at least its 4-byte offset once read, however short it is: a
# table of empty values is bounded by rows x columns, not by its text.
BYTES_PER_VALUE = 4
PARQUET_BATCH_ROWS = 16384
MAX_HEADER_BYTES = 16 << 20
SNIFF_LINES = 100  # a 20,000-column header is about 300 KB
JSON_CHUNK_LINES = 50_000
TEXT_EXTENSIONS = frozenset({"csv", "tsv", "tab", "txt", "psv", "dat"})
JSON_EXTENSIONS = frozenset({"jsonl", "ndjson", "json"})
PARQUET_EXTENSIONS = frozenset({"parquet", "pq"})
SUPPORTED = "CSV (.csv, .tsv, .txt), Parquet (.parquet) or JSON Lines (.jsonl), optionally .gz"


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
    data: bytes | bytearray,
    *,
    name: str,
    encoding: str = "auto",
    delimiter: str = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawTable:
    """Read CSV, CSV.gz, Parquet or JSON Lines. Raises SchemaError naming the file.

    ``max_bytes`` bounds the file after decompression, and the values a table may hold
    (``max_bytes / 4``): a small compressed file cannot expand beyond it."""
    lower = name.lower()
    check_extension(name)
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, name, max_bytes)
        lower = lower.removesuffix(".gz")
    elif lower.endswith(".gz"):
        raise SchemaError(f"{name}: named .gz but is not gzip-compressed", file=name)
    elif len(data) > max_bytes:
        raise SchemaError(_too_big(name, f"{len(data)} bytes", max_bytes), file=name)
    if not data or data.isspace():
        raise SchemaError(f"{name}: the file is empty", file=name)

    if data[:4] == PARQUET_MAGIC or lower.endswith((".parquet", ".pq")):
        return _read_parquet(data, name, max_bytes)
    text_encoding = _detect_encoding(data, name) if encoding == "auto" else encoding
    if text_encoding in ("utf-8", "utf-8-sig"):  # pyarrow reads UTF-8 bytes as they are
        payload = data[3:] if data.startswith(codecs.BOM_UTF8) else data
        if b"\x00" in payload:
            raise SchemaError(
                f"{name}: contains NUL characters: binary data or a wrong encoding", file=name
            )
    else:
        payload = _decode(data, text_encoding, name).encode("utf-8")
    del data  # the decompressed bytes: the payload is all that is needed from here
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return _read_jsonl(_decode(payload, "utf-8", name), name, text_encoding, max_bytes)
    return _read_csv(payload, name, text_encoding, delimiter, max_bytes)


def check_extension(name: str) -> None:
    """Refuse a file type the readers do not read (a spreadsheet, a zip archive), naming it.

    The last suffix counts when it looks like a file type (letters then letters or digits, up
    to 8); "march export" or "rates.2024-03" have none and are sniffed by content."""
    base = name.rsplit("/", 1)[-1].lower()
    base = base.removesuffix(".gz")
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem or not re.fullmatch(r"[a-z][a-z0-9]{0,7}|7z", ext):
        return
    if ext not in TEXT_EXTENSIONS | JSON_EXTENSIONS | PARQUET_EXTENSIONS:
        hint = {
            "xlsx": "; export the sheet as CSV",
            "xls": "; export the sheet as CSV",
            "xlsm": "; export the sheet as CSV",
            "ods": "; export the sheet as CSV",
            "zip": "; only gzip compression is read (.csv.gz)",
            "bz2": "; only gzip compression is read (.csv.gz)",
            "xz": "; only gzip compression is read (.csv.gz)",
            "zst": "; only gzip compression is read (.csv.gz)",
            "7z": "; only gzip compression is read (.csv.gz)",
        }.get(ext, "")
        raise SchemaError(
            f"{name}: unsupported file type '.{ext}': drop {SUPPORTED}{hint}", file=name
        )


def _too_big(name: str, what: str, max_bytes: int) -> str:
    return (
        f"{name}: {what} after decompression, above the limit of {max_bytes} bytes "
        "(MaxDecompressedBytes): split the file or raise the limit with the function's memory"
    )


def _too_many_values(name: str, rows: int, columns: int, max_bytes: int) -> str:
    return (
        f"{name}: {rows} rows x {columns} columns is {rows * columns} values, above the "
        f"{max_bytes // BYTES_PER_VALUE} that the limit of {max_bytes} bytes "
        "(MaxDecompressedBytes) allows"
    )


def max_broken_rows(max_bytes: int) -> int:
    """Rows that do not split into the header's fields are kept one by one (line, reason,
    text) for the quarantine: past this many the file is not a table with that header."""
    return max(1000, max_bytes // 2048)


def _too_many_broken(name: str, limit: int) -> str:
    return (
        f"{name}: more than {limit} rows do not split into the header's columns (or are not "
        "JSON objects): a wrong delimiter or encoding, or not a table"
    )


def _gunzip(data: bytes, name: str, max_bytes: int) -> bytearray:
    """Decompress as a stream (every member of a multi-member file) and stop at the limit, so
    a gzip bomb costs at most ``max_bytes``, never what it would expand to."""
    out = bytearray()
    pending = data
    try:
        while pending:
            unpack = zlib.decompressobj(wbits=31)  # one gzip member
            buf = pending
            while True:
                chunk = unpack.decompress(buf, min(1 << 20, max_bytes + 1 - len(out)))
                out += chunk
                if len(out) > max_bytes:
                    raise SchemaError(
                        _too_big(name, f"more than {max_bytes} bytes", max_bytes), file=name
                    )
                if unpack.eof:
                    pending = unpack.unused_data.lstrip(b"\x00")  # zero padding is allowed
                    break
                buf = unpack.unconsumed_tail
                if not buf and not chunk:
                    raise EOFError("compressed file ended before the end-of-stream marker")
            if pending and not pending.startswith(GZIP_MAGIC):
                raise EOFError("unexpected data after the compressed stream")
    except (zlib.error, EOFError) as exc:
        raise SchemaError(f"{name}: not a valid gzip file ({exc})", file=name) from exc
    return out  # not bytes(out): that would be a second copy of everything decompressed


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
def sniff_delimiter(text: str, header: str | None = None) -> str:
    """The delimiter of a CSV sample; ``header`` is the whole first line when the sample cut
    it short (a wide file's header can be far longer than any sample)."""
    # The first lines only: csv.Sniffer costs (lines x characters used), 30 s on 64 KiB of
    # two-byte lines.
    sample = "\n".join(text[:65536].split("\n", SNIFF_LINES)[:SNIFF_LINES])
    header = sample.split("\n", 1)[0] if header is None else header
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = None
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if found and counts.get(found, 0) > 0 and counts[found] >= counts[best] / 2:
        return found
    return best if counts[best] else ","


def first_record(payload: bytes | bytearray, name: str = "") -> bytes:
    """The header record, however long (up to MAX_HEADER_BYTES): up to the first line break
    outside quotes."""
    end, quotes = payload.find(b"\n", 0, MAX_HEADER_BYTES), 0
    start = 0
    if end == -1 and len(payload) > MAX_HEADER_BYTES:
        raise SchemaError(
            f"{name}: no line break in the first {MAX_HEADER_BYTES} bytes: not a table with a "
            "header line",
            file=name,
        )
    while end != -1:
        quotes += payload.count(b'"', start, end)
        if quotes % 2 == 0:
            return bytes(payload[:end])
        start, end = end, payload.find(b"\n", end + 1)
    return bytes(payload)


def _parse_header(line: str, sep: str) -> list[str]:
    if len(line) >= csv.field_size_limit():  # the csv module refuses longer fields otherwise
        csv.field_size_limit(len(line) + 1)
    return next(csv.reader(io.StringIO(line), delimiter=sep), [])


def _read_csv(
    payload: bytes | bytearray,
    name: str,
    encoding: str,
    delimiter: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawTable:
    head = payload[:65536].decode("utf-8", errors="ignore")
    header = first_record(payload, name)
    header_text = header.decode("utf-8", errors="replace").rstrip("\r")
    sep = sniff_delimiter(head, header_text) if delimiter == "auto" else delimiter
    # At most this many values, before the header is split (a 100 MB header line would be
    # millions of Python strings): every line a record, every delimiter a column.
    rows, width = payload.count(b"\n") + 1, header_text.count(sep) + 1
    if rows * width > max_bytes // BYTES_PER_VALUE:
        raise SchemaError(_too_many_values(name, rows, width, max_bytes), file=name)
    columns = [c.strip() for c in _parse_header(header_text, sep)]
    if not any(columns):
        raise SchemaError(f"{name}: the first line holds no column names", file=name)

    max_broken = max_broken_rows(max_bytes)
    # pyarrow skips lines, not records: a quoted header that spans lines is cut off instead
    # (zero-copy slice), and the first data row's line and record number move with it.
    header_breaks = header.count(b"\n")
    source = pa.py_buffer(payload)[len(header) + 1 :] if header_breaks else payload
    skip = 0 if header_breaks else 1

    def read(
        threads: bool, multiline: bool, block: int = BLOCK_SIZE
    ) -> tuple[pa.Table, list[pacsv.InvalidRow]]:
        invalid: list[pacsv.InvalidRow] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            if len(invalid) >= max_broken:
                return "error"
            invalid.append(row)
            return "skip"

        try:
            table = pacsv.read_csv(
                pa.BufferReader(source),  # no copy (io.BytesIO copies a bytearray)
                read_options=pacsv.ReadOptions(
                    use_threads=threads,
                    skip_rows=skip,
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
            if len(invalid) >= max_broken:
                raise SchemaError(_too_many_broken(name, max_broken), file=name) from None
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
    lines, broken = _line_numbers(
        newlines, invalid, len(columns), first_line=2 + header_breaks, first_number=1 + skip
    )
    return RawTable(table, columns, lines, "csv", encoding, sep, broken)


def _line_numbers(
    newlines: np.ndarray,
    invalid: list[pacsv.InvalidRow],
    n_columns: int,
    first_line: int = 2,
    first_number: int = 2,
) -> tuple[np.ndarray, list[BrokenRow]]:
    """Physical start line of every row, from the number of line breaks inside each record.

    pyarrow numbers records (header = 1, skipped rows included), not lines: a quoted field
    that spans lines shifts every later line, so lines are rebuilt with a running sum."""
    n_valid = len(newlines)
    total = n_valid + len(invalid)
    spans = np.ones(total, dtype=np.int64)  # lines each record occupies
    valid_mask = np.ones(total, dtype=bool)
    for row in invalid:
        idx = (row.number or 0) - first_number  # record number -> 0-based data row
        if 0 <= idx < total:
            valid_mask[idx] = False
            spans[idx] = 1 + row.text.count("\n")
    spans[valid_mask] = 1 + newlines
    starts = first_line + np.concatenate([[0], np.cumsum(spans)[:-1]])
    broken = [
        BrokenRow(
            int(starts[(row.number or 0) - first_number])
            if 0 <= (row.number or 0) - first_number < total
            else -1,
            f"expected {n_columns} fields, found {row.actual_columns}",
            row.text[:1000],
        )
        for row in invalid
    ]
    return starts[valid_mask], broken


# ---------------------------------------------------------------- Parquet, JSON Lines
def _read_parquet(
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
        raise SchemaError(_too_many_values(name, rows, width, max_bytes), file=name)
    parts: list[list[pa.Array]] = [[] for _ in range(width)]
    text_bytes = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
            for i, column in enumerate(batch.columns):
                text_bytes += _expanded_size(column)
                if text_bytes > max_bytes:
                    raise SchemaError(
                        _too_big(name, f"more than {max_bytes} bytes of values", max_bytes),
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


def _read_jsonl(
    text: str, name: str, encoding: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> RawTable:
    """One JSON object per line. Lines are converted to Arrow in chunks, so Python objects
    never hold more than a chunk; keys that appear in only some lines still make a column
    for every row, so rows x keys is bounded before the table is built."""
    columns: dict[str, None] = {}
    chunks: list[tuple[int, dict[str, pa.Array]]] = []  # (rows, column -> text)
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    broken: list[BrokenRow] = []
    max_values, max_broken = max_bytes // BYTES_PER_VALUE, max_broken_rows(max_bytes)
    n_rows = 0

    def flush() -> None:
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
                raise SchemaError(_too_many_broken(name, max_broken), file=name)
            continue
        try:
            rows.append({k: _json_text(v) for k, v in doc.items()})
        except (RecursionError, ValueError) as exc:
            broken.append(BrokenRow(number, f"a value cannot be kept as text ({exc})", line[:1000]))
            continue
        columns.update(dict.fromkeys(doc))
        lines.append(number)
        n_rows += 1
        if n_rows * len(columns) > max_values:
            raise SchemaError(_too_many_values(name, n_rows, len(columns), max_bytes), file=name)
        if len(rows) >= JSON_CHUNK_LINES:
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
