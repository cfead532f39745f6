"""The champion per dataset, loaded once, re-checked against the registry, verified before it
serves, and never replaced by a model that fails to load.

A version serves only once its files verify (``load_version``): its URIs are under the
dataset's prefix of the model bucket, each file's sha256 matches the registry, the feature
spec and calibrator parse, the model loads and a probe prediction is finite and of the right
width. When the registered champion does not verify, the cache falls back to what serves
already (a warm process) or, at a cold start, to the newest older version that verifies, and
says so (``Champion.fallback``); when none does, ModelUnavailable names every problem (the
API answers 503). Each incident is alerted once across every process: the registry records it
by conditional write and only the process that opened it sends the email."""

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tabflow.errors import ModelLoadError, ModelNotFound, ModelUnavailable, ObjectNotFound
from tabflow.features import FeatureSpec
from tabflow.models.base import Model, load_calibrated
from tabflow.observability import logger
from tabflow.ports import ModelVersion, ObjectStore, Registry, split_uri

FALLBACK_DEPTH = 5  # older versions tried, newest first, when the champion does not load


@dataclass(frozen=True)
class Fallback:
    """Why the version serving is not the registered champion."""

    champion: int  # the registered champion, which does not load
    problem: str

    def header(self, serving: int) -> str:
        """One printable line for a response header."""
        text = f"champion v{self.champion} does not load ({self.problem}); serving v{serving}"
        return re.sub(r"[^\x20-\x7e]+", " ", text)[:300]


@dataclass(frozen=True)
class Champion:
    version: ModelVersion
    model: Model
    spec: FeatureSpec
    checked_at: float
    fallback: Fallback | None = None  # set when serving a version other than the champion


@dataclass(frozen=True)
class Incident:
    """A champion that does not load: what was tried and what serves instead (None: nothing,
    the API answers 503)."""

    dataset: str
    champion: int
    serving: int | None
    problems: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"v#{self.champion:06d}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_version(
    store: ObjectStore, version: ModelVersion, *, model_bucket: str | None = None
) -> tuple[Model, FeatureSpec]:
    """The version's model and feature spec, verified; ModelLoadError says what is wrong."""
    try:
        return _load_verified(store, version, model_bucket)
    except ModelLoadError:
        raise
    except ObjectNotFound as exc:
        raise ModelLoadError(f"v{version.version}: file missing: {exc}") from exc
    except Exception as exc:  # any parse or load failure of stored bytes
        raise ModelLoadError(f"v{version.version}: {type(exc).__name__}: {exc}"[:500]) from exc


def _load_verified(
    store: ObjectStore, version: ModelVersion, model_bucket: str | None
) -> tuple[Model, FeatureSpec]:
    v = f"v{version.version}"
    bucket = model_bucket or split_uri(version.model_uri)[0]
    for uri in (version.model_uri, version.spec_uri, version.calibration_uri):
        if uri is None:
            continue
        where, key = split_uri(uri)
        if where != bucket or not key.startswith(f"{version.dataset}/"):
            raise ModelLoadError(
                f"{v}: {uri} is outside s3://{bucket}/{version.dataset}/ (the dataset's models)"
            )
    payload = store.get(version.model_uri)
    if _sha(payload) != version.sha256:
        raise ModelLoadError(
            f"{v}: {version.model_uri} has sha256 {_sha(payload)[:12]}…, the registry says "
            f"{version.sha256[:12]}… ({len(payload)} bytes)"
        )
    spec_bytes = store.get(version.spec_uri)
    if version.spec_sha256 and _sha(spec_bytes) != version.spec_sha256:
        raise ModelLoadError(f"{v}: {version.spec_uri} does not match its sha256")
    calibration = None
    if version.calibration_uri:
        calibration = store.get(version.calibration_uri)
        if version.calibration_sha256 and _sha(calibration) != version.calibration_sha256:
            raise ModelLoadError(f"{v}: {version.calibration_uri} does not match its sha256")
    spec = FeatureSpec.from_json(spec_bytes)
    model = load_calibrated(version.kind, payload, calibration)
    _probe(v, model, spec)
    return model, spec


def _probe(v: str, model: Model, spec: FeatureSpec) -> None:
    """Score a row of zeros and a row of missing values: the model must read the spec's width
    and answer finite scores (probabilities in [0, 1] for a binary task; for a multiclass
    task one probability per class of the spec, summing to 1)."""
    x = np.zeros((2, len(spec.features)))
    x[1, :] = np.nan
    with np.errstate(all="ignore"):
        scores = np.asarray(model.predict(x), dtype=np.float64)
        contributions = np.asarray(model.contributions(x), dtype=np.float64)
    shape = (2, len(spec.classes)) if spec.task == "multiclass" else (2,)
    if scores.shape != shape or not np.isfinite(scores).all():
        raise ModelLoadError(f"{v}: a probe prediction is not finite: {scores.tolist()}")
    if spec.task != "regression" and ((scores < 0) | (scores > 1)).any():
        raise ModelLoadError(f"{v}: a probe probability is outside [0, 1]: {scores.tolist()}")
    if spec.task == "multiclass" and not np.allclose(scores.sum(axis=1), 1.0, atol=1e-6):
        raise ModelLoadError(f"{v}: probe class probabilities do not sum to 1")
    if contributions.shape != x.shape or not np.isfinite(contributions).all():
        raise ModelLoadError(f"{v}: the model's contributions do not fit the feature spec")


class ChampionCache:
    """The champion per dataset, loaded once and re-checked against the registry every
    ``ttl`` seconds. A version that fails to verify never serves; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        store: ObjectStore,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        model_bucket: str | None = None,
        on_incident: Callable[[Incident], None] | None = None,
    ) -> None:
        self._registry, self._store, self._ttl, self._clock = registry, store, ttl, clock
        self._bucket = model_bucket
        self._on_incident = on_incident
        self._alerted: set[tuple[str, int]] = set()
        self._loaded: dict[str, Champion] = {}
        self._lock = threading.Lock()

    def get(self, dataset: str) -> Champion:
        current = self._loaded.get(dataset)
        if current and self._clock() - current.checked_at < self._ttl:
            return current
        with self._lock:
            return self._refresh(dataset, self._loaded.get(dataset))

    def peek(self, dataset: str) -> Champion | None:
        """What serves the dataset in this process now (None: nothing loaded)."""
        return self._loaded.get(dataset)

    def _refresh(self, dataset: str, current: Champion | None) -> Champion:
        now = self._clock()
        version = self._registry.champion(dataset)
        if version is None:
            raise ModelNotFound(f"no champion model for dataset {dataset!r} yet")
        if current and current.fallback is None and current.version.version == version.version:
            fresh = Champion(current.version, current.model, current.spec, now)
        else:
            try:
                model, spec = load_version(self._store, version, model_bucket=self._bucket)
                fresh = Champion(version, model, spec, now)
            except ModelLoadError as exc:
                fresh = self._fall_back(dataset, version, current, str(exc), now)
        self._loaded[dataset] = fresh
        return fresh

    def _fall_back(
        self,
        dataset: str,
        champion: ModelVersion,
        current: Champion | None,
        problem: str,
        now: float,
    ) -> Champion:
        problems = [problem]
        fallback = Fallback(champion.version, problem)
        chosen: Champion | None = None
        if current is not None:  # a warm process keeps what serves
            chosen = Champion(current.version, current.model, current.spec, now, fallback)
        else:
            older = sorted(
                (v for v in self._registry.list_versions(dataset) if v.version < champion.version),
                key=lambda v: -v.version,
            )[:FALLBACK_DEPTH]
            for candidate in older:
                try:
                    model, spec = load_version(self._store, candidate, model_bucket=self._bucket)
                except ModelLoadError as exc:
                    problems.append(str(exc))
                    continue
                chosen = Champion(candidate, model, spec, now, fallback)
                break
        serving = chosen.version.version if chosen else None
        logger.error(
            "the champion does not load",
            extra={
                "dataset": dataset,
                "champion": champion.version,
                "serving": serving,
                "problems": problems,
            },
        )
        self._alert(Incident(dataset, champion.version, serving, tuple(problems)))
        if chosen is None:
            raise ModelUnavailable(
                f"no version of {dataset!r} loads: the champion v{champion.version} and "
                f"{len(problems) - 1} older version(s) fail verification",
                problems,
            )
        return chosen

    def _alert(self, incident: Incident) -> None:
        """Once per incident across every process: the registry's conditional write decides
        which process sends the email."""
        marker = (incident.dataset, incident.champion)
        if self._on_incident is None or marker in self._alerted:
            return
        self._alerted.add(marker)
        try:
            first = self._registry.open_incident(
                incident.dataset, incident.key, "; ".join(incident.problems)
            )
        except Exception:
            logger.exception("could not record the incident; alerting anyway")
            first = True
        if not first:
            return
        try:
            self._on_incident(incident)
        except Exception:
            logger.exception("model incident alert failed")
            try:  # let the next process try to alert
                self._registry.forget_incident(incident.dataset, incident.key)
                self._alerted.discard(marker)
            except Exception:
                logger.exception("could not forget the incident")
