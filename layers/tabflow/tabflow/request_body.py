"""The prediction API's request body, read defensively: every hostile shape becomes a
BadRequest (4xx) that names the problem, before or while the JSON is parsed, never an
exception that the API would answer with a 5xx.

Accepted: JSON in UTF-8 (a UTF-8 byte-order mark is ignored), uncompressed, at most
``max_bytes`` bytes, nested at most ``MAX_DEPTH`` levels, integers of at most
``MAX_INT_DIGITS`` digits, finite numbers that fit a 64-bit float (no NaN or Infinity,
which Python's parser would read), no duplicate key in an object, no lone UTF-16 surrogate
in a string. The Content-Type is not enforced (``curl -d`` sends
``application/x-www-form-urlencoded``); only its ``charset``, when given, must be UTF-8.

Refused: a ``Content-Encoding`` other than identity (415: a REST API's Lambda proxy
integration passes the body through as it came, so gzip would reach the function still
compressed, and base64-encoded only for the API's BinaryMediaTypes); a UTF-16 or UTF-32 body
or another charset (415); bytes that are not UTF-8 (400); a body flagged base64 that is not
(400); and each limit above (400, or 413 for the size)."""

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from tabflow.errors import BadRequest

MAX_DEPTH = 64
# float64 holds integers up to about 1.8e308 (309 digits), and Python refuses to convert
# strings of more than 4,300 digits. A feature value needs far fewer.
MAX_INT_DIGITS = 300

_UTF8_BOM = b"\xef\xbb\xbf"
# bytes.translate tables (C speed over the whole body): what the checks below look at.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}":')
_NUMBER_SHAPES = bytes(  # digits -> 0, e and E -> e, + stays, anything else -> a space
    ord("0") if b in b"0123456789" else ord("e") if b in b"eE" else b if b == ord("+") else 32
    for b in range(256)
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject(message: str, field: str = "body", status: int = 400) -> BadRequest:
    return BadRequest(message, [{"record": None, "field": field, "problem": message}], status)


def read_json_body(
    body: str | None,
    *,
    base64_encoded: bool,
    headers: Mapping[str, str] | None,
    max_bytes: int,
) -> Any:
    """The parsed JSON of an API Gateway proxy event's body (``body``, ``isBase64Encoded``,
    ``headers``), or a BadRequest that names what is wrong with it."""
    found = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    _check_headers(found)
    text, data = _decoded(body or "", base64_encoded, max_bytes)
    if not text.strip():
        raise _reject(
            'the body is empty: send a JSON record, a list of records or {"records": [...]}'
        )
    skeleton = _skeleton(data)
    _check_depth(skeleton)
    numbers = _may_hold_big_numbers(data)
    try:
        # Parsed without the duplicate-key hook (a Python call per object), then counted:
        # every key/value separator must be a key of the body or of a record. Otherwise (a
        # duplicate key, or objects nested in records) parsed again, with the hook.
        parsed = _decoder(numbers, duplicates=False).decode(text)
        if _record_keys(parsed) != skeleton.count(b":"):
            parsed = _decoder(numbers, duplicates=True).decode(text)
        if (b"\\ud" in data or b"\\uD" in data) and _SURROGATE_ESCAPE.search(data):
            _check_strings(parsed)
    except _Refused as exc:
        raise _reject(str(exc)) from None
    except json.JSONDecodeError as exc:
        media = found.get("content-type", "")
        hint = (
            f" (Content-Type is {media!r}: the body must be JSON)"
            if media and "json" not in media
            else ""
        )
        raise _reject(f"malformed JSON body: {exc}{hint}") from None
    except (ValueError, RecursionError) as exc:  # defence in depth: the checks above cover these
        raise _reject(f"unreadable JSON body: {exc}") from None
    return parsed


def _check_headers(headers: dict[str, str]) -> None:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise _reject(
            f"Content-Encoding {encoding!r} is not supported: send the JSON uncompressed "
            "(UTF-8, without a Content-Encoding header)",
            "Content-Encoding",
            415,
        )
    for parameter in headers.get("content-type", "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise _reject(
                f"charset {charset!r} is not supported: send the JSON in UTF-8",
                "Content-Type",
                415,
            )


def _too_large(size: int, max_bytes: int) -> BadRequest:
    return _reject(f"body too large: {size} bytes > {max_bytes}", status=413)


def _not_utf8(encoding: str) -> BadRequest:
    return _reject(f"the body is {encoding.upper()}, not UTF-8: send the JSON in UTF-8", status=415)


def _decoded(body: str, base64_encoded: bool, max_bytes: int) -> tuple[str, bytes]:
    """The body as text and as UTF-8 bytes, checked: size, base64, encoding."""
    if base64_encoded:
        if len(body) > (max_bytes + 2) // 3 * 4 + 4:
            raise _too_large(len(body) * 3 // 4, max_bytes)
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _reject(f"the body is flagged base64 but is not valid base64: {exc}") from None
    else:
        if len(body) > max_bytes:  # each character is at least one byte
            raise _too_large(len(body), max_bytes)
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _reject(
                f"the body is not valid Unicode: {exc.reason} at character {exc.start}"
            ) from None
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    elif data[:4].count(0) or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = json.detect_encoding(data)  # UTF-16/32, with or without a BOM
        if encoding != "utf-8":
            raise _not_utf8(encoding)
    if not base64_encoded:
        return body.removeprefix("\ufeff"), data
    try:
        return data.decode("utf-8"), data
    except UnicodeDecodeError as exc:
        raise _reject(
            f"the body is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"({exc.reason})"
        ) from None


def _skeleton(data: bytes) -> bytes:
    """The body's structure: its brackets and colons outside strings, in order.

    Escaped quotes and backslashes go first (they are string content). Then only brackets,
    colons and quotes are kept. A character is inside a string when an odd number of quotes
    comes before it, so dropping two adjacent quotes keeps that; the quotes left then enclose
    brackets or colons that are inside strings, dropped with them."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    return skeleton


def _check_depth(skeleton: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the (recursive) parser sees it.

    Innermost bracket pairs are removed one level per pass: the passes, plus the openers
    that never close, bound the depth the parser would reach."""
    brackets = skeleton.replace(b":", b"")
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if shorter == brackets:
            break
        brackets, depth = shorter, depth + 1
    if depth + brackets.count(b"[") + brackets.count(b"{") > MAX_DEPTH:
        raise _reject(f"JSON nested more than {MAX_DEPTH} levels deep")


def _record_keys(body: Any) -> int:
    """The keys of the body's objects where records live: the body itself, and the objects
    of a top-level list or of its "records" list."""
    if isinstance(body, dict):
        records = body.get("records")
        inner = sum(len(r) for r in records if type(r) is dict) if type(records) is list else 0
        return len(body) + inner
    if type(body) is list:
        return sum(len(r) for r in body if type(r) is dict)
    return 0


def _may_hold_big_numbers(data: bytes) -> bool:
    """A cheap test: a run of more than MAX_INT_DIGITS digits, or an exponent of three digits
    or more. Only then do the parser's number hooks (a Python call per number) run."""
    shapes = data.translate(_NUMBER_SHAPES)
    return b"0" * (MAX_INT_DIGITS + 1) in shapes or b"e000" in shapes or b"e+000" in shapes


class _Refused(ValueError):
    """A value the parser met that the API refuses (raised from the parser's hooks)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {_short(key)} in a JSON object")
            seen.add(key)
    return obj


def _int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(
            f"an integer of {digits} digits is out of range (at most {MAX_INT_DIGITS} digits)"
        )
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {_short(literal)} is out of range for a 64-bit float")
    return value


def _constant(name: str) -> float:
    """NaN, Infinity and -Infinity: Python's parser reads them, JSON has no such numbers."""
    raise _Refused(f"{name} is not a JSON number: send null for a missing value")


def _check_strings(value: Any) -> None:
    """Every string (keys too) must be valid Unicode: a lone surrogate cannot be stored."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused(
                    f"the string {_short(item)} holds a lone UTF-16 surrogate "
                    "(escapes \\ud800 to \\udfff must come in pairs)"
                ) from None


def _short(text: str, limit: int = 40) -> str:
    """A value quoted for a message, cut to ``limit`` characters."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "…")


# Decoders by (number checks, duplicate-key check). The number hooks run only for a body that
# may hold a number too large; the duplicate-key hook only when the count of keys is off.
_DECODERS = {
    (numbers, duplicates): json.JSONDecoder(
        parse_constant=_constant,
        object_pairs_hook=_no_duplicates if duplicates else None,
        parse_int=_int if numbers else None,
        parse_float=_float if numbers else None,
    )
    for numbers in (False, True)
    for duplicates in (False, True)
}


def _decoder(numbers: bool, *, duplicates: bool) -> json.JSONDecoder:
    return _DECODERS[numbers, duplicates]
