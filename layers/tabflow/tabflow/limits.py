"""The bounds on what a dropped file may expand to, and the file types that are read.

A small file can hide a large table: a gzip bomb, a Parquet file of run-length-encoded zeros,
a CSV of empty fields, JSON Lines with a new key on every line. The readers check these
bounds before (or while) they expand anything, and refuse the file with a SchemaError that
names the limit (MaxDecompressedBytes), so that ingest's memory stays bounded."""

import re
import zlib

from tabflow.errors import SchemaError

GZIP_MAGIC = b"\x1f\x8b"
# The default bound on a file's size after decompression (the ingest and batch functions pass
# their MaxDecompressedBytes setting). Reading and validating costs several times this.
DEFAULT_MAX_BYTES = 128 << 20
# Every value of a table costs at least its 4-byte offset once read, however short it is: a
# table of empty values is bounded by rows x columns, not by its text.
BYTES_PER_VALUE = 4
MAX_HEADER_BYTES = 16 << 20  # a 20,000-column header is about 300 KB
TEXT_EXTENSIONS = frozenset({"csv", "tsv", "tab", "txt", "psv", "dat"})
JSON_EXTENSIONS = frozenset({"jsonl", "ndjson", "json"})
PARQUET_EXTENSIONS = frozenset({"parquet", "pq"})
SUPPORTED = "CSV (.csv, .tsv, .txt), Parquet (.parquet) or JSON Lines (.jsonl), optionally .gz"


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


def too_big(name: str, what: str, max_bytes: int) -> str:
    return (
        f"{name}: {what} after decompression, above the limit of {max_bytes} bytes "
        "(MaxDecompressedBytes): split the file or raise the limit with the function's memory"
    )


def too_many_values(name: str, rows: int, columns: int, max_bytes: int) -> str:
    return (
        f"{name}: {rows} rows x {columns} columns is {rows * columns} values, above the "
        f"{max_bytes // BYTES_PER_VALUE} that the limit of {max_bytes} bytes "
        "(MaxDecompressedBytes) allows"
    )


def max_broken_rows(max_bytes: int) -> int:
    """Rows that do not split into the header's fields are kept one by one (line, reason,
    text) for the quarantine: past this many the file is not a table with that header."""
    return max(1000, max_bytes // 2048)


def too_many_broken(name: str, limit: int) -> str:
    return (
        f"{name}: more than {limit} rows do not split into the header's columns (or are not "
        "JSON objects): a wrong delimiter or encoding, or not a table"
    )


def gunzip(data: bytes, name: str, max_bytes: int) -> bytearray:
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
                        too_big(name, f"more than {max_bytes} bytes", max_bytes), file=name
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
