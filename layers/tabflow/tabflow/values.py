"""One meaning for every value: the contract's rules for typing a value, shared by ingest,
batch scoring and the API.

A contract column becomes a ``ValueRule`` (``rules_for(contract)``) that types one value
(``parse_value``) or a column of values (``parse_column``), or names why it cannot: the same
missing markers (per column: ``missing_markers``; a declared category is never one), boolean
spellings, number rules (an ``int`` rejects ``1.5`` and ``true``; money, percent), category
normalisation (spaces always; case with ``ignore_case``; ``Y`` for the ``Yes`` of a yes/no
pair); field names are matched in field_names.py (case, spaces, punctuation ignored).
A JSON value means what it means in a JSON Lines file at ingest (``to_text``: ``true`` ->
"true", ``null`` -> missing). Ingest types whole columns under the same rules
(value_columns.py); tests/unit/test_one_meaning.py checks every path on one table.

The API types each request field by the rule stored with the model's feature spec
(serving/records.py), so a value means the same in a file and in a request.

Targets: ``targets.resolve_target`` resolves labels with these rules."""

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from tabflow.contract import Column, Contract, FileFormat

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
TRUE_SPELLINGS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_SPELLINGS = frozenset({"no", "n", "false", "f", "0"})
NUMBER_TYPES = frozenset({"int", "float", "money", "percent"})
_SCALARS = frozenset({str, int, float, bool, type(None)})
NUMBER_PATTERN = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
CURRENCY_AFFIXES = r"^(?:[A-Z]{3}\s*)?[$€£¥₹]?\s*|\s*[$€£¥₹]?(?:\s*[A-Z]{3})?$"
CURRENCY_AFTER_MINUS = r"^(-?)[$€£¥₹]"
PERCENT_SIGN = r"\s*%$"
INT_LIMIT = 2.0**63  # an int column holds int64
DATE_MIN, DATE_MAX = datetime(1677, 9, 22), datetime(2262, 4, 11)  # datetime64[ns], whole days
_NUMBER = re.compile(NUMBER_PATTERN, re.ASCII)
_CURRENCY = re.compile(CURRENCY_AFFIXES, re.ASCII)
_MINUS_CURRENCY = re.compile(CURRENCY_AFTER_MINUS, re.ASCII)
_PERCENT = re.compile(PERCENT_SIGN, re.ASCII)
_PARENS = re.compile(r"^\((.*)\)$", re.ASCII | re.DOTALL)

# Reasons: the same words in ingest quarantine records, batch reports and API 422 answers.
NOT_WHOLE = "not a whole number"
TOO_LARGE_INT = "too large for an int"
NOT_BOOLEAN = "not a boolean (expected yes/no, true/false, 1/0)"
MISSING_VALUE = "missing value"
MISSING_TARGET = "missing value in the target"


def not_a_number(kind: str) -> str:
    return f"not a number ({kind})"


def below_minimum(limit: float) -> str:
    return f"below minimum {limit:g}"


def above_maximum(limit: float) -> str:
    return f"above maximum {limit:g}"


def not_a_category(categories: Sequence[str]) -> str:
    return f"not one of the allowed categories {list(categories)}"


def not_a_date(formats: Sequence[str] | None) -> str:
    declared = f"{', '.join(formats)}, or ISO 8601" if formats else "ISO 8601"
    return f"not a date in the declared format(s): {declared}"


def date_formats(formats: Sequence[str] | None) -> tuple[str, ...]:
    """The declared formats in order, then ISO 8601 (unambiguous, and what JSON clients
    send), so a file and a request accept the same dates."""
    return (*(formats or ()), "ISO8601")


def truth(text: str) -> bool | None:
    """True/False for a boolean spelling (any case, surrounding spaces ignored), else None."""
    word = text.strip().lower()
    return True if word in TRUE_SPELLINGS else False if word in FALSE_SPELLINGS else None


@dataclass(frozen=True)
class ValueRule:
    """How one contract column types a value. Plain data: ``to_dict``/``from_dict`` store it
    with a model so the API applies the rule training saw."""

    name: str
    type: str  # a contract ColumnType value
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    warn_min: float | None = None  # outside: accepted, counted in warnings
    warn_max: float | None = None
    categories: tuple[str, ...] | None = None
    unseen: str = "reject"  # category outside ``categories``: reject | keep
    ignore_case: bool = False
    missing: frozenset[str] = MISSING_MARKERS  # lower-case; "" is always missing
    formats: tuple[str, ...] | None = None  # datetime
    decimal: str = "."
    thousands_separator: str | None = ","
    aliases: tuple[str, ...] = ()
    required: bool = True
    target: bool = False  # a missing value is a problem: "missing value in the target"

    @classmethod
    def from_column(
        cls, name: str, col: "Column", fmt: "FileFormat | None" = None, *, target: bool = False
    ) -> "ValueRule":
        own = col.missing_markers
        markers = MISSING_MARKERS if own is None else {m.strip().lower() for m in own}
        declared = {c.strip().lower() for c in col.categories or ()}
        return cls(
            name=name,
            type=str(col.type.value),
            nullable=col.nullable,
            min=col.min,
            max=col.max,
            warn_min=col.warn_min,
            warn_max=col.warn_max,
            categories=tuple(col.categories) if col.categories is not None else None,
            unseen=col.unseen,
            ignore_case=col.ignore_case,
            missing=frozenset(markers - declared) | {""},
            formats=tuple(col.formats) if col.formats else None,
            decimal=fmt.decimal if fmt else ".",
            thousands_separator=fmt.thousands_separator if fmt else ",",
            aliases=tuple(col.aliases),
            required=col.required,
            target=target,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["missing"] = sorted(self.missing)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ValueRule":
        d = dict(data)
        d["missing"] = frozenset(d.get("missing", MISSING_MARKERS))
        for key in ("categories", "formats", "aliases"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    @cached_property
    def category_lookup(self) -> dict[str, str]:
        """Spelling -> declared category: the category itself (lower-cased with
        ``ignore_case``) and, for a yes/no pair, every boolean spelling of each side."""
        out: dict[str, str] = {}
        cats = self.categories or ()
        if self.boolean_pair:
            truths = {truth(c): c for c in cats}
            for spelling in TRUE_SPELLINGS | FALSE_SPELLINGS:
                out[spelling] = truths[spelling in TRUE_SPELLINGS]
        for c in cats:
            out[c.lower() if self.ignore_case else c] = c
        return out

    @cached_property
    def boolean_pair(self) -> bool:
        """The categories are a yes/no pair (one true and one false spelling)."""
        cats = self.categories or ()
        return len(cats) == 2 and {truth(c) for c in cats} == {True, False}


class Parsed(NamedTuple):
    value: Any  # the typed value, None when missing or rejected
    problem: str | None = None  # why the value is rejected
    missing: bool = False  # the value was a missing marker (or null)


@dataclass
class ParsedColumn:
    values: list[Any]
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)


def to_text(value: Any) -> str:
    """The text a JSON Lines file gives ingest for this JSON (or Python) value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas missing values
        return ""
    if hasattr(value, "item"):  # numpy scalars
        return to_text(value.item())
    return str(value)


def parse_value(rule: ValueRule, value: Any) -> Parsed:
    """Type one value (a file's text or a JSON value) by the column's rule."""
    return parse_text(rule, to_text(value))


def parse_text(rule: ValueRule, raw: str) -> Parsed:
    text = raw.strip()
    if text == "" or text.lower() in rule.missing:
        if rule.target:
            return Parsed(None, MISSING_TARGET, True)
        return Parsed(None, None if rule.nullable else MISSING_VALUE, True)
    kind = rule.type
    if kind in NUMBER_TYPES:
        x = parse_number(text, kind, rule.decimal, rule.thousands_separator)
        return _checked_number(rule, x)
    if kind == "bool":
        value = truth(text)
        return Parsed(None, NOT_BOOLEAN) if value is None else Parsed(value)
    if kind == "datetime":
        when = parse_datetime(text, rule.formats)
        return Parsed(when) if when is not None else Parsed(None, not_a_date(rule.formats))
    if kind == "category":
        key = text.lower() if rule.ignore_case else text
        if rule.categories is None:
            return Parsed(key)
        hit = rule.category_lookup.get(key)
        if hit is None and rule.boolean_pair:
            hit = rule.category_lookup.get(text.lower())
        if hit is not None:
            return Parsed(hit)
        if rule.unseen == "keep":
            return Parsed(key)
        return Parsed(None, not_a_category(rule.categories))
    return Parsed(text)  # string: kept as text exactly (a "=HYPERLINK(...)" stays a string)


def parse_number(text: str, kind: str, decimal: str = ".", thousands: str | None = ",") -> float:
    """Text -> float, NaN when not a number. Money drops currency symbols/codes and reads
    (12.50) as -12.50; percent drops a trailing % and divides by 100. Thousands separators are
    removed only where they group digits in threes; a decimal comma becomes a point."""
    s = text
    negative = False
    if kind == "money":
        inner = _PARENS.match(s)
        if inner:
            negative, s = True, inner.group(1)
        s = _MINUS_CURRENCY.sub(r"\1", _CURRENCY.sub("", s))
    elif kind == "percent":
        s = _PERCENT.sub("", s)
    if thousands and thousands in s:
        dec = "\\" + decimal
        grouped = rf"^[-+]?\d{{1,3}}(?:\{thousands}\d{{3}})+(?:{dec}\d+)?$"
        if re.match(grouped, s, re.ASCII):
            s = s.replace(thousands, "")
    if decimal == ",":
        s = s.replace(",", ".")
    if not _NUMBER.match(s):
        return math.nan
    x = float(s)
    x = -x if negative else x
    return x / 100.0 if kind == "percent" else x


def _checked_number(rule: ValueRule, x: float) -> Parsed:
    if not math.isfinite(x):
        return Parsed(None, not_a_number(rule.type))
    problem = None  # like the ingest masks: the last applicable reason is the one named
    if rule.type == "int":
        if abs(x) >= INT_LIMIT:
            return Parsed(None, TOO_LARGE_INT)
        if x % 1 != 0:
            problem = NOT_WHOLE
    if rule.min is not None and x < rule.min:
        problem = below_minimum(rule.min)
    if rule.max is not None and x > rule.max:
        problem = above_maximum(rule.max)
    if problem:
        return Parsed(None, problem)
    return Parsed(int(x) if rule.type == "int" else x)


def parse_datetime(text: str, formats: Sequence[str] | None) -> datetime | None:
    """Each declared format in order, then ISO 8601; a zone is converted to UTC; naive."""
    for f in date_formats(formats):
        try:
            when = (
                datetime.fromisoformat(text.replace(" ", "T", 1))
                if f == "ISO8601"
                else datetime.strptime(text, f)
            )
            if when.tzinfo is not None:
                when = when.astimezone(UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):  # OverflowError: a zone past year 1 or 9999
            continue
        if DATE_MIN <= when <= DATE_MAX:  # what a file's column can hold (datetime64[ns])
            return when
    return None


def parse_column(rule: ValueRule, values: Sequence[Any]) -> ParsedColumn:
    """Type a column of values (e.g. one field of every record of a request): the same result
    as ``parse_value`` on each; clean numbers are checked at once, other scalars once per
    distinct value (1, 1.0 and True are distinct: they differ as text)."""
    kinds = set(map(type, values))
    if rule.type in NUMBER_TYPES and kinds <= {int, float, type(None)}:
        present = [v for v in values if v is not None] if type(None) in kinds else values
        out = _numbers(rule, present)
        if out is not None and len(present) == len(values):
            return out
        if out is not None and not out.problems and rule.nullable and not rule.target:
            typed = iter(out.values)
            return ParsedColumn([None if v is None else next(typed) for v in values])
    if rule.type == "bool" and kinds <= {bool}:
        return ParsedColumn(list(values))
    if kinds <= {str, type(None)}:  # text: each distinct spelling typed once
        texts = {v: parse_value(rule, v) for v in set(values)}
        if not any(p.problem for p in texts.values()):
            return ParsedColumn([texts[v].value for v in values])
    if kinds <= _SCALARS:
        keys = [(type(v), v) for v in values]
        seen = {k: parse_value(rule, k[1]) for k in set(keys)}
        problems = []
        if any(p.problem for p in seen.values()):
            problems = [(i, seen[k].problem) for i, k in enumerate(keys) if seen[k].problem]
        return ParsedColumn([seen[k].value for k in keys], problems)
    parsed = [parse_value(rule, v) for v in values]  # lists, objects: typed as their JSON
    return ParsedColumn(
        [p.value for p in parsed], [(i, p.problem) for i, p in enumerate(parsed) if p.problem]
    )


def _numbers(rule: ValueRule, values: Sequence[Any]) -> ParsedColumn | None:
    """JSON numbers: the same as their text (repr round-trips floats exactly)."""
    if rule.type == "percent":
        return None  # 12.5 means 12.5 %: the per-value path divides the parsed text
    x = np.asarray(values, dtype=np.float64)
    whole = rule.type != "int" or bool((np.abs(x) < INT_LIMIT).all() and (x % 1 == 0).all())
    low = rule.min is None or bool((x >= rule.min).all())
    high = rule.max is None or bool((x <= rule.max).all())
    if np.isfinite(x).all() and whole and low and high:  # the usual request: all in range
        return ParsedColumn(x.astype(np.int64).tolist() if rule.type == "int" else x.tolist())
    typed: list[Any] = []
    problems: list[tuple[int, str]] = []
    for i, v in enumerate(values):
        if isinstance(v, float) and math.isnan(v):
            return None  # NaN is missing: the per-value path says so
        parsed = _checked_number(rule, float(v))
        typed.append(parsed.value)
        if parsed.problem:
            problems.append((i, parsed.problem))
    return ParsedColumn(typed, problems)


def rules_for(contract: "Contract") -> dict[str, ValueRule]:
    """Every column's rule; the target's rule names a missing value as a problem."""
    target = contract.target.column
    return {
        name: ValueRule.from_column(name, col, contract.format, target=name == target)
        for name, col in contract.columns.items()
    }
