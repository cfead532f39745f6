"""Turn the bytes of a dropped file into a table of raw strings.

Every value is read as text: typing is the contract's job (validation.py), so a value that
does not parse can be quarantined with its reason instead of silently becoming NaN."""

import gzip
import io
from dataclasses import dataclass

import pandas as pd

from tabflow.errors import SchemaError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class RawTable:
    frame: pd.DataFrame  # every column is text (object dtype); no value converted yet
    line_numbers: list[int]  # the file line each row started on (header is line 1)
    fmt: str


def read_table(data: bytes, *, name: str) -> RawTable:
    """Read CSV, CSV.gz, Parquet or JSON Lines. Raises SchemaError naming the file."""
    if not data.strip():
        raise SchemaError(f"{name}: the file is empty", file=name)
    lower = name.lower()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SchemaError(f"{name}: not a valid gzip file ({exc})", file=name) from exc
        lower = lower.removesuffix(".gz")
    elif lower.endswith(".gz"):
        raise SchemaError(f"{name}: named .gz but is not gzip-compressed", file=name)

    if data[:4] == PARQUET_MAGIC or lower.endswith(".parquet"):
        return _read_parquet(data, name)
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return _read_jsonl(data, name)
    return _read_csv(data, name)


def _read_csv(data: bytes, name: str) -> RawTable:
    text = _decode(data, name)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise SchemaError(f"{name}: cannot be parsed as CSV ({exc})", file=name) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    # Header is line 1, so data row i (0-based) starts on line i + 2 when records are one line.
    return RawTable(frame.astype(object), [i + 2 for i in range(len(frame))], "csv")


def _read_parquet(data: bytes, name: str) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise SchemaError(f"{name}: cannot be read as Parquet ({exc})", file=name) from exc
    text = frame.astype(object).where(frame.notna(), "")
    text = text.map(lambda v: v if isinstance(v, str) else str(v))
    return RawTable(text, [i + 1 for i in range(len(frame))], "parquet")


def _read_jsonl(data: bytes, name: str) -> RawTable:
    try:
        frame = pd.read_json(io.StringIO(_decode(data, name)), lines=True, dtype=False)
    except ValueError as exc:
        raise SchemaError(f"{name}: cannot be read as JSON Lines ({exc})", file=name) from exc
    text = frame.astype(object).where(frame.notna(), "")
    text = text.map(lambda v: v if isinstance(v, str) else str(v))
    return RawTable(text, [i + 1 for i in range(len(frame))], "jsonl")


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{name}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            file=name,
        ) from exc
