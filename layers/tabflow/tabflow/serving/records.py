"""Request validation: the records of a prediction request, checked against the champion's
feature spec and turned into columns; every problem names its record and field."""

import math
from typing import Any

import numpy as np

from tabflow.errors import BadRequest
from tabflow.features import FeatureSpec, parse_iso_datetime

MAX_ERRORS_REPORTED = 50

_MISSING = object()
_NUMBERS = {int, float, bool}


def records_to_columns(spec: FeatureSpec, records: list[Any]) -> dict[str, list[Any]]:
    """Validate request records against the feature spec; every problem names its field.

    Clean requests (the usual case) are checked a column at a time; any doubt sends the
    request through the per-value checks, which give the same columns or name each problem."""
    if all(type(r) is dict for r in records):
        columns = _clean_columns(spec, records)
        if columns is not None:
            return columns
    return _checked_columns(spec, records)


def _clean_columns(spec: FeatureSpec, records: list[dict]) -> dict[str, list[Any]] | None:
    columns: dict[str, list[Any]] = {}
    for feat in spec.fields:
        col = [r.get(feat.name, _MISSING) for r in records]
        types = set(map(type, col))
        if type(None) in types and not feat.nullable:
            return None  # an explicit null where none is allowed
        if _MISSING in col:
            if feat.required:
                return None
            col = [None if v is _MISSING else v for v in col]  # absent optional field: null
            types = set(map(type, col))
        present = [v for v in col if v is not None] if type(None) in types else col
        types.discard(type(None))
        if feat.kind == "numeric":
            if not types <= _NUMBERS:
                return None  # a string, a list...
            if bool in types:
                col = [float(v) if type(v) is bool else v for v in col]
                present = [float(v) if type(v) is bool else v for v in present]
            values = np.asarray(present, dtype=np.float64)
            if not np.isfinite(values).all():
                return None
            if feat.min is not None and (values < feat.min).any():
                return None
            if feat.max is not None and (values > feat.max).any():
                return None
        elif types - {str}:
            return None
        elif feat.kind == "datetime":
            if any(np.isnat(parse_iso_datetime(v)) for v in present):
                return None
        elif (
            feat.kind == "categorical" and feat.strict and not set(present) <= set(feat.categories)
        ):
            return None
        columns[feat.name] = col
    return columns


def _checked_columns(spec: FeatureSpec, records: list[Any]) -> dict[str, list[Any]]:
    errors: list[dict[str, Any]] = []
    fields = spec.fields
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            errors.append({"record": i, "field": None, "problem": "a record must be a JSON object"})
            continue
        for feat in fields:
            value = record.get(feat.name)
            problem = None
            if feat.name not in record:
                problem = "missing field" if feat.required else None
            elif value is None:
                problem = None if feat.nullable else "must not be null"
            elif feat.kind == "numeric":
                if isinstance(value, bool):
                    value = float(value)
                elif not isinstance(value, int | float) or not math.isfinite(value):
                    problem = f"expected a number, got {type(value).__name__}"
                elif feat.min is not None and value < feat.min:
                    problem = f"{value} is below the minimum {feat.min:g}"
                elif feat.max is not None and value > feat.max:
                    problem = f"{value} is above the maximum {feat.max:g}"
            elif feat.kind == "datetime":
                if not isinstance(value, str) or np.isnat(parse_iso_datetime(value)):
                    problem = "expected an ISO 8601 date-time string, e.g. 2024-05-01T13:45:00Z"
            elif feat.kind == "text":
                if isinstance(value, int | float) and not isinstance(value, bool):
                    value = str(value)
                elif not isinstance(value, str):
                    problem = f"expected a string, got {type(value).__name__}"
            else:
                if not isinstance(value, str):
                    problem = f"expected a string, got {type(value).__name__}"
                elif feat.strict and value not in feat.categories:
                    shown = ", ".join(feat.categories[:20])
                    problem = f"{value!r} is not one of the known categories: {shown}"
            if problem:
                errors.append({"record": i, "field": feat.name, "problem": problem})
            columns[feat.name].append(value)
    if errors:
        first = errors[0]
        raise BadRequest(
            f"record {first['record']}, field {first['field']!r}: {first['problem']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors[:MAX_ERRORS_REPORTED],
        )
    return columns
