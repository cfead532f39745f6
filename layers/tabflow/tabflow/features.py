"""The feature pipeline shared by training and serving.

One implementation turns columns of values (a pandas column at training time, a list of
JSON values at serving time) into the float matrix the models read, derived features
included (date parts, cyclical encodings, ratios, logs, per-entity aggregates). It is
serialised as JSON next to each model, so the API computes exactly what training computed.
Pure numpy: the prediction path must not import pandas or scikit-learn."""

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from tabflow.field_names import name_lookup
from tabflow.values import ValueRule

SPEC_VERSION = 2
_RULE_TYPES = {"numeric": "float", "categorical": "category", "datetime": "datetime"}
Columns = Mapping[str, Sequence[Any] | np.ndarray]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["numeric", "categorical", "datetime", "text"]
    categories: tuple[str, ...] = ()  # categorical: code i means categories[i]
    # What the API accepts for this field (from the contract):
    nullable: bool = True
    required: bool = True  # a request must name it (null allowed when nullable)
    min: float | None = None
    max: float | None = None
    strict: bool = True  # categorical: reject values outside ``categories``
    # Derived features: {"op": ..., "source": ..., "other": ...}; computed, never sent.
    derive: dict[str, str] | None = None
    # How a request's value is typed: the contract's rule ingest used (values.ValueRule).
    rule: dict[str, Any] | None = None

    def value_rule(self) -> ValueRule:
        """The stored rule; a spec written before rules were stored gets one from the
        feature's own limits."""
        if self.rule is not None:
            return ValueRule.from_dict(self.rule)
        return ValueRule(
            name=self.name,
            type=_RULE_TYPES.get(self.kind, "string"),
            nullable=self.nullable,
            required=self.required,
            min=self.min,
            max=self.max,
            categories=self.categories if self.kind == "categorical" else None,
            unseen="reject" if self.strict else "keep",
        )


@dataclass(frozen=True)
class FeatureSpec:
    features: tuple[Feature, ...]  # the model's columns, in order
    target: str
    positive_label: str
    negative_label: str
    task: str = "binary"  # binary | multiclass | regression
    # multiclass: the classes in the order of the model's probabilities, and the rare classes
    # merged into "other" at training (their labels count as "other" when labels arrive)
    classes: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()
    inputs: tuple[Feature, ...] = ()  # raw fields needed only to derive features
    entity: str | None = None
    timestamp: str | None = None
    id_column: str | None = None  # captured with each prediction, to join delayed labels
    # Per-entity history at the end of the training data: {source: {entity: [rows, valid, sum]}};
    # serving continues from it (every request is "after" the training rows).
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict, compare=False)
    # The contract's PII policy ({column: "hash" | "drop"}): the API hashes these fields and
    # the captured id as ingest did (tabflow.pii), so entity history and label joins match.
    pii: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def fields(self) -> list[Feature]:
        """What a request record must carry: the non-derived features plus the inputs."""
        return [f for f in self.features if not f.derive] + list(self.inputs)

    @cached_property
    def rules(self) -> dict[str, ValueRule]:
        """Each request field's value rule (built once per loaded spec)."""
        return {f.name: f.value_rule() for f in self.fields}

    @cached_property
    def field_names(self) -> dict[str, str]:
        """Every accepted spelling's key (field_names.name_key) -> the field (the id column too)."""
        lookup = name_lookup(self.rules.values())
        if self.id_column:
            for key, name in name_lookup([ValueRule(self.id_column, "string")]).items():
                lookup.setdefault(key, name)
        return lookup

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def matrix(self, columns: Columns, *, history: dict | None = None) -> np.ndarray:
        """Columns of raw values -> float64 matrix (rows x features).

        Numeric: float, missing -> NaN. Categorical: the category's code, missing or unseen ->
        NaN (LightGBM and the linear model both read NaN as "no information"). Entity
        aggregates start from ``history`` (empty: the rows are the whole history)."""
        n = len(next(iter(columns.values()))) if columns else 0
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for j, feat in enumerate(self.features):
            if feat.derive:
                out[:, j] = self._derive(feat.derive, columns, history)
            elif feat.kind == "numeric":
                out[:, j] = to_float_array(columns[feat.name])
            else:
                out[:, j] = encode_categories(columns[feat.name], feat.categories)
        return out

    def serving_matrix(self, columns: Columns) -> np.ndarray:
        return self.matrix(columns, history=self.history)

    def with_history(self, columns: Columns) -> "FeatureSpec":
        """The spec plus the per-entity history of these (training) rows, for serving."""
        sources = {
            f.derive["source"]
            for f in self.features
            if f.derive and f.derive["op"].startswith("entity_")
        }
        if not sources:
            return self
        history = {}
        entities = _entity_keys(columns[self.entity])
        times = to_datetime_array(columns[self.timestamp])
        for source in sources:
            values = to_float_array(columns[source])
            _, history[source] = entity_aggregates(entities, times, values, {})
        return replace(self, history=history)

    def _derive(self, d: dict[str, str], columns: Columns, history: dict | None) -> np.ndarray:
        op, source = d["op"], d["source"]
        if op in ("ratio", "log1p"):
            x = to_float_array(columns[source])
            if op == "log1p":
                with np.errstate(invalid="ignore"):
                    return np.where(x >= 0, np.log1p(np.maximum(x, 0)), np.nan)
            y = to_float_array(columns[d["other"]])
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(y != 0, x / y, np.nan)
        if op.startswith("entity_"):
            entities = _entity_keys(columns[self.entity])
            times = to_datetime_array(columns[self.timestamp])
            values = to_float_array(columns[source])
            state = (history or {}).get(source, {})
            (count, mean), _ = entity_aggregates(entities, times, values, state)
            return count if op == "entity_count" else mean
        return date_part(to_datetime_array(columns[source]), op)

    def to_json(self) -> str:
        def feat(f: Feature) -> dict[str, Any]:
            return {
                "name": f.name,
                "kind": f.kind,
                "categories": list(f.categories),
                "nullable": f.nullable,
                "required": f.required,
                "min": f.min,
                "max": f.max,
                "strict": f.strict,
                "derive": f.derive,
            } | ({"rule": f.rule} if f.rule is not None else {})

        return json.dumps(
            {
                "version": SPEC_VERSION,
                "target": self.target,
                "positive_label": self.positive_label,
                "task": self.task,
                "negative_label": self.negative_label,
                "entity": self.entity,
                "id_column": self.id_column,
                "timestamp": self.timestamp,
                "features": [feat(f) for f in self.features],
                "inputs": [feat(f) for f in self.inputs],
                "history": self.history,
            }
            | ({"pii": self.pii} if self.pii else {})  # absent without PII: same bytes as before
            | ({"classes": self.classes, "merged": self.merged} if self.classes else {}),
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "FeatureSpec":
        data = json.loads(text)
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"unsupported feature spec version {data.get('version')!r}")

        def feat(f: dict[str, Any]) -> Feature:
            return Feature(
                f["name"],
                f["kind"],
                tuple(f.get("categories", ())),
                f.get("nullable", True),
                f.get("required", True),
                f.get("min"),
                f.get("max"),
                f.get("strict", True),
                f.get("derive"),
                f.get("rule"),
            )

        return cls(
            features=tuple(feat(f) for f in data["features"]),
            target=data["target"],
            positive_label=data["positive_label"],
            task=data.get("task", "binary"),
            negative_label=data["negative_label"],
            inputs=tuple(feat(f) for f in data.get("inputs", ())),
            entity=data.get("entity"),
            timestamp=data.get("timestamp"),
            id_column=data.get("id_column"),
            history=data.get("history") or {},
            pii=data.get("pii") or {},
            classes=tuple(data.get("classes") or ()),
            merged=tuple(data.get("merged") or ()),
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def to_float_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    out = np.empty(len(arr), dtype=np.float64)
    for i, v in enumerate(arr):
        out[i] = _as_float(v)
    return out


def _as_float(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool | np.bool_):
        return 1.0 if v else 0.0
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan  # pandas.NA and friends


def encode_categories(values: Sequence[Any] | np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Category -> code (NaN when missing or unknown). A float array is taken as codes already
    (training encodes whole columns at once, see training.frame_columns)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype(np.float64, copy=False)
    codes = {c: float(i) for i, c in enumerate(categories)}
    nan = math.nan
    return np.fromiter(
        (codes.get(v, nan) if isinstance(v, str) else nan for v in values),
        dtype=np.float64,
        count=len(values),
    )


def to_datetime_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """datetime64[s]; ISO 8601 strings (a trailing Z or offset is read as UTC), NaT if missing."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]")
    out = np.empty(len(arr), dtype="datetime64[s]")
    for i, v in enumerate(arr):
        out[i] = parse_iso_datetime(v)
    return out


def parse_iso_datetime(v: Any) -> np.datetime64:
    if not isinstance(v, str) or not v:
        return np.datetime64("NaT")
    text = v.strip().replace(" ", "T", 1)
    offset = np.timedelta64(0, "m")
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        offset = sign * np.timedelta64(int(text[-5:-3]) * 60 + int(text[-2:]), "m")
        text = text[:-6]
    try:
        return (np.datetime64(text) - offset).astype("datetime64[s]")
    except ValueError:
        return np.datetime64("NaT")


def date_part(ts: np.ndarray, op: str) -> np.ndarray:
    nat = np.isnat(ts)
    days = ts.astype("datetime64[D]")
    if op == "year":
        v = ts.astype("datetime64[Y]").astype(np.int64) + 1970
    elif op == "month" or op.endswith("_month"):
        v = ts.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif op == "day":
        v = (days - ts.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    elif op == "weekday" or op.endswith("_weekday"):
        v = (days.astype(np.int64) + 3) % 7  # Monday = 0 (1970-01-01 was a Thursday)
    elif op == "hour" or op.endswith("_hour"):
        v = (ts - days).astype("timedelta64[h]").astype(np.int64)
    elif op == "dayofyear":
        v = (days - ts.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    else:
        raise ValueError(f"unknown date operation {op!r}")
    v = v.astype(np.float64)
    if op.startswith(("sin_", "cos_")):
        period = {"hour": 24.0, "weekday": 7.0, "month": 12.0}[op[4:]]
        phase = 2 * np.pi * ((v - 1) if op.endswith("_month") else v) / period
        v = np.sin(phase) if op.startswith("sin_") else np.cos(phase)
    v[nat] = np.nan
    return v


def _entity_keys(values: Sequence[Any] | np.ndarray) -> list[str | None]:
    return [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values
    ]


def entity_aggregates(
    entities: list[str | None], times: np.ndarray, values: np.ndarray, start: dict[str, list[float]]
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, list[float]]]:
    """For every row: how many earlier rows the entity has, and the mean of their values,
    counting only rows strictly earlier in time (no leakage from the same instant or the
    future). Returns the per-row (count, mean) and the state after the last row."""
    n = len(entities)
    count = np.full(n, np.nan)
    mean = np.full(n, np.nan)
    state = {k: list(v) for k, v in start.items()}
    order = np.argsort(times, kind="stable")  # NaT sorts last
    i = 0
    while i < n:
        j = i
        t = times[order[i]]
        while j < n and (times[order[j]] == t):  # rows sharing a timestamp see the same past
            j += 1
        j = max(j, i + 1)
        group = order[i:j]
        for r in group:
            e = entities[r]
            if e is None:
                continue
            rows, valid, total = state.get(e, (0.0, 0.0, 0.0))
            count[r] = rows
            mean[r] = total / valid if valid else np.nan
        for r in group:
            e = entities[r]
            if e is None or np.isnat(times[r]):
                continue
            rows, valid, total = state.get(e, (0.0, 0.0, 0.0))
            v = values[r]
            ok = not np.isnan(v)
            state[e] = [rows + 1, valid + ok, total + (v if ok else 0.0)]
        i = j
    return (count, mean), state
