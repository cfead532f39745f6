"""The prediction use case: validate records against the champion's feature spec, score
them, explain them, capture them. No pandas or scikit-learn on this path (cold start)."""

import atexit
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tabflow.calibration import Calibrator
from tabflow.errors import BadRequest, ModelNotFound
from tabflow.features import FeatureSpec, parse_iso_datetime
from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore, Registry, s3_uri
from tabflow.scoring import CalibratedModel, Model, load_model, score

MAX_ERRORS_REPORTED = 50


@dataclass(frozen=True)
class Champion:
    version: ModelVersion
    model: Model
    spec: FeatureSpec
    checked_at: float


class ChampionCache:
    """The champion per dataset, loaded once and re-checked against the registry every
    ``ttl`` seconds. A new model that fails to load (or fails its sha256 check) never
    replaces a working one: the old one keeps serving and the failure is logged."""

    def __init__(
        self,
        registry: Registry,
        store: ObjectStore,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        on_load_failure: Callable[[ModelVersion, ModelVersion, Exception], None] | None = None,
    ) -> None:
        self._registry, self._store, self._ttl, self._clock = registry, store, ttl, clock
        self._on_load_failure = on_load_failure
        self._alerted: set[tuple[str, int]] = set()
        self._loaded: dict[str, Champion] = {}
        self._lock = threading.Lock()

    def get(self, dataset: str) -> Champion:
        current = self._loaded.get(dataset)
        if current and self._clock() - current.checked_at < self._ttl:
            return current
        with self._lock:
            return self._refresh(dataset, self._loaded.get(dataset))

    def _refresh(self, dataset: str, current: Champion | None) -> Champion:
        now = self._clock()
        version = self._registry.champion(dataset)
        if version is None:
            raise ModelNotFound(f"no champion model for dataset {dataset!r} yet")
        if current and current.version.version == version.version:
            fresh = Champion(current.version, current.model, current.spec, now)
        else:
            try:
                fresh = self._load(version, now)
            except Exception as exc:
                if current is None:
                    raise
                if (
                    self._on_load_failure
                    and (version.dataset, version.version) not in self._alerted
                ):
                    self._alerted.add(
                        (version.dataset, version.version)
                    )  # one alert per bad version
                    try:
                        self._on_load_failure(version, current.version, exc)
                    except Exception:
                        logger.exception("model load alert failed")
                logger.exception(
                    "new champion failed to load; the previous one keeps serving",
                    extra={
                        "dataset": dataset,
                        "version": version.version,
                        "serving": current.version.version,
                    },
                )
                fresh = Champion(current.version, current.model, current.spec, now)
        self._loaded[dataset] = fresh
        return fresh

    def _load(self, version: ModelVersion, now: float) -> Champion:
        payload = self._store.get(version.model_uri)
        digest = hashlib.sha256(payload).hexdigest()
        if digest != version.sha256:
            raise ValueError(f"{version.model_uri}: sha256 {digest} does not match the registry")
        spec = FeatureSpec.from_json(self._store.get(version.spec_uri))
        model = load_model(version.kind, payload)
        if version.calibration_uri:
            model = CalibratedModel(
                model, Calibrator.from_json(self._store.get(version.calibration_uri))
            )
        return Champion(version, model, spec, now)


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


# A request's capture, rendered to JSON lines only when written (off the response path).
CaptureLines = Callable[[], list[str]]


class CaptureWriter:
    """Writes each request's capture at once (tools, tests). The API uses CaptureBuffer."""

    def __init__(self, store: ObjectStore, lake_bucket: str) -> None:
        self._store, self._lake = store, lake_bucket

    def add(self, dataset: str, lines: CaptureLines, count: int) -> None:
        self.write(dataset, lines())

    def write(self, dataset: str, lines: list[str]) -> None:
        now = datetime.now(UTC)
        key = f"captures/{dataset}/dt={now:%Y-%m-%d}/{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.jsonl"
        try:
            self._store.put(
                s3_uri(self._lake, key), "\n".join(lines).encode(), "application/x-ndjson"
            )
        except Exception:  # a capture failure must not fail or slow a prediction
            logger.exception("capture failed", extra={"dataset": dataset, "rows": len(lines)})

    def flush(self) -> None:
        pass


class CaptureBuffer(CaptureWriter):
    """Captures leave the response's critical path: requests append their (unrendered)
    captures to a buffer, and a background thread renders and writes one object per dataset
    every ``interval`` seconds (or as soon as ``max_lines`` pile up). Lambda freezes the thread between invocations and it resumes on
    the next one; what is buffered when an environment is retired (at most ``interval`` seconds
    of traffic) is flushed at interpreter exit when the runtime allows it."""

    def __init__(
        self,
        store: ObjectStore,
        lake_bucket: str,
        *,
        interval: float = 1.0,
        max_lines: int = 20_000,
    ):
        super().__init__(store, lake_bucket)
        self._interval, self._max = interval, max_lines
        self._pending: dict[str, list[CaptureLines]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="capture-flusher").start()
        atexit.register(self.flush)

    def add(self, dataset: str, lines: CaptureLines, count: int) -> None:
        with self._lock:
            self._pending.setdefault(dataset, []).append(lines)
            self._counts[dataset] = self._counts.get(dataset, 0) + count
            if self._counts[dataset] >= self._max:
                self._wake.set()

    def flush(self) -> None:
        with self._lock:
            batches, self._pending, self._counts = self._pending, {}, {}
        for dataset, makers in batches.items():
            try:
                lines = [line for make in makers for line in make()]
            except Exception:  # a capture failure must not fail or slow a prediction
                logger.exception("capture failed", extra={"dataset": dataset})
                continue
            if lines:
                self.write(dataset, lines)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()


class Predictor:
    def __init__(
        self,
        cache: ChampionCache,
        store: ObjectStore,
        *,
        lake_bucket: str,
        max_records: int,
        capture: CaptureWriter | None = None,
    ) -> None:
        self._cache, self._store = cache, store
        self._capture_sink = capture or CaptureWriter(store, lake_bucket)
        self._metadata_cache: dict[tuple[str, int], dict[str, Any]] = {}
        self._lake, self._max = lake_bucket, max_records

    def predict(
        self, dataset: str, body: Any, request_id: str, *, explain: bool = True
    ) -> dict[str, Any]:
        """Score the records; with explain, each answer carries its top feature contributions
        (TreeSHAP for LightGBM, about 35 times the cost of the prediction itself)."""
        records = body.get("records") if isinstance(body, dict) and "records" in body else body
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list) or not records:
            raise BadRequest(
                'the body must be a record, a list of records or {"records": [...]}',
                [{"record": None, "field": "records", "problem": "no records"}],
                400,
            )
        if len(records) > self._max:
            raise BadRequest(
                f"too many records: {len(records)} > {self._max}",
                [{"record": None, "field": "records", "problem": f"at most {self._max}"}],
                413,
            )
        champion = self._cache.get(dataset)
        spec = champion.spec
        columns = records_to_columns(spec, records)
        x = spec.serving_matrix(columns)
        scored = score(
            champion.model, spec, x, threshold=champion.version.threshold, top_k=3 if explain else 0
        )
        predictions: list[dict[str, Any]] = [
            {"score": round(float(s), 6), "label": label}
            for s, label in zip(scored.scores.tolist(), scored.labels, strict=True)
        ]
        if explain:
            for prediction, top in zip(predictions, scored.top_features, strict=True):
                prediction["top_features"] = top
        answer = {
            "request_id": request_id,
            "dataset": dataset,
            "model_version": champion.version.version,
            "model_kind": champion.version.kind,
            "threshold": champion.version.threshold,
            "predictions": predictions,
        }
        ids = (
            [r.get(spec.id_column) if isinstance(r, dict) else None for r in records]
            if spec.id_column
            else None
        )
        self._capture(dataset, request_id, columns, ids, answer)
        return answer

    def model_info(self, dataset: str) -> dict[str, Any]:
        champion = self._cache.get(dataset)
        v = champion.version
        return {
            "dataset": dataset,
            "version": v.version,
            "kind": v.kind,
            "threshold": v.threshold,
            "metrics": v.metrics,
            "run_id": v.run_id,
            "created_at": v.created_at.isoformat(),
            "features": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "categories": list(f.categories),
                    "nullable": f.nullable,
                }
                for f in champion.spec.fields
            ],
            "sha256": v.sha256,
            "gates": self._metadata(v).get("gates", []),
            "model_card_uri": self._metadata(v).get("model_card_uri"),
        }

    def _metadata(self, version: ModelVersion) -> dict[str, Any]:
        """The version's metadata document (gates, lineage), read once per version."""
        key = (version.dataset, version.version)
        if key not in self._metadata_cache:
            try:
                self._metadata_cache[key] = json.loads(self._store.get(version.metadata_uri))
            except Exception:  # the card is informative; predictions never depend on it
                logger.exception("model metadata unreadable", extra={"uri": version.metadata_uri})
                return {}
        return self._metadata_cache[key]

    def _capture(
        self,
        dataset: str,
        request_id: str,
        columns: dict[str, list[Any]],
        ids: list[Any] | None,
        answer: dict,
    ) -> None:
        """Store what the model saw (its validated input fields only: nothing else of the
        request, so no PII), the id to join delayed labels, and the score: one JSON line per
        record, read by the drift monitor."""
        at = datetime.now(UTC).isoformat()
        version, scores = answer["model_version"], [p["score"] for p in answer["predictions"]]

        def lines() -> list[str]:
            names = list(columns)
            encode = json.JSONEncoder(default=str).encode  # one encoder for all the rows
            rows = zip(*(columns[name] for name in names), strict=True)
            return [
                encode(
                    dict(
                        zip(names, row, strict=True),
                        _at=at,
                        _request_id=request_id,
                        _model_version=version,
                        _score=score_,
                        _id=None if ids is None else ids[i],
                    )
                )
                for i, (row, score_) in enumerate(zip(rows, scores, strict=True))
            ]

        self._capture_sink.add(dataset, lines, len(scores))
