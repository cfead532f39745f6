"""Turn the bytes of a dropped file into a table of raw text values.

Every value is read as text: typing is the contract's job (validation.py), so a value that
does not parse can be quarantined with its reason instead of silently becoming NaN. Rows
that cannot even be split into the header's columns (ragged rows, broken JSON lines) are
returned as ``broken`` with their line numbers, never dropped silently.

Handles CSV (delimiter, encoding and BOM sniffing, CRLF, quoted multi-line fields), gzip,
Parquet (numbers stored as strings included) and JSON Lines.

Sizes are bounded before they can exhaust memory (``max_bytes``, see limits.py): gzip is
decompressed as a stream that stops at the limit; Parquet is checked from its metadata (rows x
columns) and read in batches whose decoded text is counted (dictionary-encoded values are
measured before they are expanded); JSON Lines are converted in chunks and refused when sparse
keys would make the table too large (columnar.py). A file over a limit is a SchemaError naming
the limit."""

import codecs
import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tabflow.columnar import read_jsonl, read_parquet
from tabflow.errors import SchemaError
from tabflow.limits import (
    BYTES_PER_VALUE,
    DEFAULT_MAX_BYTES,
    GZIP_MAGIC,
    MAX_HEADER_BYTES,
    check_extension,
    gunzip,
    max_broken_rows,
    too_big,
    too_many_broken,
    too_many_values,
)
from tabflow.rawtable import BrokenRow, RawTable, normalise_header

__all__ = ["DEFAULT_MAX_BYTES", "BrokenRow", "RawTable", "normalise_header", "read_table"]

PARQUET_MAGIC = b"PAR1"
DELIMITERS = ",;\t|"
BLOCK_SIZE = 8 << 20
SNIFF_LINES = 100


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
        data = gunzip(data, name, max_bytes)
        lower = lower.removesuffix(".gz")
    elif lower.endswith(".gz"):
        raise SchemaError(f"{name}: named .gz but is not gzip-compressed", file=name)
    elif len(data) > max_bytes:
        raise SchemaError(too_big(name, f"{len(data)} bytes", max_bytes), file=name)
    if not data or data.isspace():
        raise SchemaError(f"{name}: the file is empty", file=name)

    if data[:4] == PARQUET_MAGIC or lower.endswith((".parquet", ".pq")):
        return read_parquet(data, name, max_bytes)
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
        return read_jsonl(_decode(payload, "utf-8", name), name, text_encoding, max_bytes)
    return _read_csv(payload, name, text_encoding, delimiter, max_bytes)


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
        raise SchemaError(too_many_values(name, rows, width, max_bytes), file=name)
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
                raise SchemaError(too_many_broken(name, max_broken), file=name) from None
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
