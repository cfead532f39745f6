"""The prediction use case: validate records against the champion's feature spec, score them,
explain them, capture them. No pandas or scikit-learn on this path (cold start)."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tabflow import pii
from tabflow.errors import BadRequest, PiiSaltUnavailable
from tabflow.features import FeatureSpec
from tabflow.models.base import score
from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore
from tabflow.serving.cache import ChampionCache
from tabflow.serving.capture import CaptureWriter
from tabflow.serving.records import canonical_records, records_to_columns


class Predictor:
    def __init__(
        self,
        cache: ChampionCache,
        store: ObjectStore,
        *,
        lake_bucket: str,
        max_records: int,
        capture: CaptureWriter | None = None,
        pii_salt: Callable[[], str] | None = None,
    ) -> None:
        """``pii_salt`` is called only for a champion whose fields or id are ``pii: hash``."""
        self._cache, self._store = cache, store
        self._pii_salt = pii_salt
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
        records = canonical_records(spec, records)  # field names spelled as ingest reads them
        records, id_of = self._pii(spec, records)
        columns = records_to_columns(spec, records)
        x = spec.serving_matrix(columns)
        scored = score(
            champion.model, spec, x, threshold=champion.version.threshold, top_k=3 if explain else 0
        )
        predictions: list[dict[str, Any]] = [
            {"score": round(float(s), 6), "label": label}
            for s, label in zip(scored.scores.tolist(), scored.labels, strict=True)
        ]
        if scored.probabilities is not None:  # multiclass: every class's probability
            for prediction, row in zip(predictions, scored.probabilities.tolist(), strict=True):
                prediction["probabilities"] = {
                    c: round(p, 6) for c, p in zip(spec.classes, row, strict=True)
                }
        if scored.intervals is not None:  # regression: the split-conformal interval
            for prediction, low, high in zip(predictions, *scored.intervals, strict=True):
                prediction["interval"] = [round(float(low), 6), round(float(high), 6)]
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
            [id_of(r.get(spec.id_column)) if isinstance(r, dict) else None for r in records]
            if spec.id_column
            else None
        )
        self._capture(dataset, request_id, columns, ids, answer, scored.probabilities)
        return answer

    def _pii(self, spec: FeatureSpec, records: list[Any]) -> tuple[list[Any], Callable[[Any], Any]]:
        """The contract's PII policy on a request, as ingest applied it to the training data:
        ``pii: hash`` fields (an entity key) are hashed before validation and scoring (the
        model's categories and entity history hold hashes), and the id to capture is hashed
        (or dropped), so no raw value reaches the capture."""
        if not spec.pii:
            return records, _same
        hashed = [f.name for f in spec.fields if spec.pii.get(f.name) == "hash"]
        id_rule = spec.pii.get(spec.id_column) if spec.id_column else None
        if not hashed and id_rule != "hash":
            return records, (lambda _: None) if id_rule == "drop" else _same
        if self._pii_salt is None:
            raise PiiSaltUnavailable("this model's fields are PII to hash but no salt is set")
        salt = self._pii_salt()
        if hashed:
            records = pii.hash_record_fields(records, hashed, salt)
        return records, lambda value: pii.apply_to_value(value, id_rule, salt)

    def model_info(self, dataset: str) -> dict[str, Any]:
        champion = self._cache.get(dataset)
        v = champion.version
        return {
            "dataset": dataset,
            "version": v.version,
            "kind": v.kind,
            "threshold": v.threshold,
            "task": champion.spec.task,
            "classes": list(champion.spec.classes),
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
            # the registered champion does not load: this older version serves instead
            "fallback": None
            if champion.fallback is None
            else {"champion": champion.fallback.champion, "problem": champion.fallback.problem},
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
        probabilities: Any = None,
    ) -> None:
        """Store what the model saw (its validated input fields only, PII fields already
        hashed: nothing else of the request), the id to join delayed labels (hashed when the
        contract says so), and the score: one JSON line per record, read by the monitor.
        A multiclass line also carries the predicted class and every class's probability
        (unrounded: the monitor's AUC reads them)."""
        at = datetime.now(UTC).isoformat()
        version, scores = answer["model_version"], [p["score"] for p in answer["predictions"]]
        extra: list[dict[str, Any]] = [{} for _ in scores]
        if probabilities is not None:
            extra = [
                {"_label": p["label"], "_probabilities": row}
                for p, row in zip(answer["predictions"], probabilities.tolist(), strict=True)
            ]

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
                        **extra[i],
                    )
                )
                for i, (row, score_) in enumerate(zip(rows, scores, strict=True))
            ]

        self._capture_sink.add(dataset, lines, len(scores))


def _same(value: Any) -> Any:
    return value
