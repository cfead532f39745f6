"""The champion per dataset, loaded once, re-checked against the registry, never replaced by a
model that fails to load."""

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tabflow.errors import ModelNotFound
from tabflow.features import FeatureSpec
from tabflow.models.base import Model, load_calibrated
from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore, Registry


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
        calibration = self._store.get(version.calibration_uri) if version.calibration_uri else None
        model = load_calibrated(version.kind, payload, calibration)
        return Champion(version, model, spec, now)
