"""Request validation: the records of a prediction request, typed by the rules ingest used
for the training data (tabflow.values, stored with each feature of the spec), so a value
means the same in a file and in a request; every problem names its record and field.

Field names are matched like file headers ("Monthly Charges", "monthlyCharges" and
"monthly_charges" are one field); values are typed a column at a time (values.parse_column)."""

from typing import Any

from tabflow.errors import BadRequest
from tabflow.features import FeatureSpec
from tabflow.field_names import match_names
from tabflow.values import ValueRule, parse_column

MAX_ERRORS_REPORTED = 50
MISSING_FIELD = "missing field"
NOT_AN_OBJECT = "a record must be a JSON object"
_ABSENT = object()


def canonical_records(spec: FeatureSpec, records: list[Any]) -> list[Any]:
    """Each record with its field names spelled as the contract's columns (unknown names kept;
    the id column too); two spellings of one field in a record are a 422 naming both."""
    lookup = spec.field_names
    known = set(lookup.values())
    out: list[Any] = []
    errors: list[dict[str, Any]] = []
    names: dict[tuple, tuple[dict[str, str], list]] = {}  # records of a request share names
    for i, record in enumerate(records):
        if not isinstance(record, dict) or known.issuperset(record):
            out.append(record)  # the usual case: every name already canonical
            continue
        key = tuple(record)
        if key not in names:
            names[key] = match_names(key, lookup)
        mapping, clashes = names[key]
        for first, second, column in clashes:
            problem = f"{first!r} and {second!r} both name field {column!r}"
            errors.append({"record": i, "field": column, "problem": problem})
        out.append({mapping[k]: v for k, v in record.items() if k in mapping})
    if errors:
        _raise(errors)
    return out


def records_to_columns(spec: FeatureSpec, records: list[Any]) -> dict[str, list[Any]]:
    """Validate request records against the feature spec: each field typed by its rule
    (numbers as int/float, booleans as 1.0/0.0, categories as their declared spelling,
    date-times as naive UTC ISO strings, missing as None), or a 422 naming every problem."""
    records = canonical_records(spec, records)
    errors: list[dict[str, Any]] = [
        {"record": i, "field": None, "problem": NOT_AN_OBJECT}
        for i, r in enumerate(records)
        if not isinstance(r, dict)
    ]
    rows = [r if isinstance(r, dict) else {} for r in records]
    columns: dict[str, list[Any]] = {}
    for feat in spec.fields:
        name = feat.name
        rule = spec.rules[name]
        sent = [r.get(name, _ABSENT) for r in rows]
        absent = _ABSENT in sent
        if absent:
            if rule.required:
                errors.extend(
                    {"record": i, "field": name, "problem": MISSING_FIELD}
                    for i, (v, r) in enumerate(zip(sent, records, strict=True))
                    if v is _ABSENT and isinstance(r, dict)
                )
            sent = [None if v is _ABSENT else v for v in sent]  # an absent optional field: missing
        parsed = parse_column(rule, sent)
        errors.extend(
            {"record": i, "field": name, "problem": problem}
            for i, problem in parsed.problems
            if not absent or name in rows[i]
        )
        columns[name] = _served(rule, parsed.values)
    if errors:
        errors.sort(key=lambda e: (e["record"], e["field"] is not None))
        _raise(errors)
    return columns


def _served(rule: ValueRule, values: list[Any]) -> list[Any]:
    """Typed values as FeatureSpec.matrix and the capture read them."""
    if rule.type == "bool":
        return [None if v is None else float(v) for v in values]
    if rule.type == "datetime":
        return [None if v is None else v.isoformat() for v in values]
    return values


def _raise(errors: list[dict[str, Any]]) -> None:
    first = errors[0]
    where = f"record {first['record']}" + (
        f", field {first['field']!r}" if first["field"] is not None else ""
    )
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise BadRequest(f"{where}: {first['problem']}{more}", errors[:MAX_ERRORS_REPORTED])
