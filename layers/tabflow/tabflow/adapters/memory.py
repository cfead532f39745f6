"""In-memory implementations of the ports, for unit tests and local experiments."""

import io
import threading
from typing import Any

import pandas as pd

from tabflow.errors import ConcurrentUpdate, ModelNotFound, ObjectNotFound, RunAlreadyPromoted
from tabflow.ports import Email, ModelVersion


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get(self, uri: str) -> bytes:
        try:
            return self.objects[uri]
        except KeyError:
            raise ObjectNotFound(uri) from None

    def get_exact(self, uri: str, *, version: str | None, etag: str | None) -> bytes:
        """One version per key and no ETags here: the current object (S3Store reads the
        exact version; tests/integration checks it under moto)."""
        return self.get(uri)

    def put(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[uri] = bytes(data)

    def list(self, prefix_uri: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(prefix_uri))


class MemoryTables:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def write_parquet(self, frame: pd.DataFrame, uri: str) -> None:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        self.store.put(uri, buf.getvalue())

    def read_parquet(self, uri: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.store.get(uri)))


class MemoryMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[Email, list[str]]] = []

    def send(self, email: Email, recipients: list[str]) -> str:
        self.sent.append((email, list(recipients)))
        return f"msg-{len(self.sent)}"


class MemoryWorkflow:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.started.setdefault(name, payload)
        return f"arn:aws:states:local:000000000000:execution:training:{name}"


class MemoryRegistry:
    """The registry's conditions as DynamoDB applies them: ``register`` checks the number, the
    run and the pointer and writes all three or nothing, under one lock (a transaction)."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], ModelVersion] = {}
        self.champions: dict[str, int] = {}
        self.runs: dict[tuple[str, str], int] = {}
        self.incidents: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def latest_version(self, dataset: str) -> int:
        with self._lock:
            return max((v for d, v in self.versions if d == dataset), default=0)

    def register(self, version: ModelVersion, *, expected: int | None) -> None:
        key = (version.dataset, version.version)
        with self._lock:
            if (version.dataset, version.run_id) in self.runs:
                raise RunAlreadyPromoted(f"{version.dataset}: run {version.run_id} has a version")
            if key in self.versions or self.champions.get(version.dataset) != expected:
                raise ConcurrentUpdate(
                    f"{version.dataset}: v{version.version} taken or the champion moved "
                    f"(expected v{expected}, is v{self.champions.get(version.dataset)})"
                )
            self.versions[key] = version
            self.runs[(version.dataset, version.run_id)] = version.version
            self.champions[version.dataset] = version.version

    def version_of_run(self, dataset: str, run_id: str) -> ModelVersion | None:
        with self._lock:
            number = self.runs.get((dataset, run_id))
            return None if number is None else self.versions[(dataset, number)]

    def put_version(self, version: ModelVersion) -> None:
        key = (version.dataset, version.version)
        with self._lock:
            if key in self.versions:
                raise ConcurrentUpdate(f"{version.dataset} v{version.version} already exists")
            self.versions[key] = version

    def get_version(self, dataset: str, version: int) -> ModelVersion:
        try:
            return self.versions[(dataset, version)]
        except KeyError:
            raise ModelNotFound(f"{dataset} v{version}") from None

    def list_versions(self, dataset: str) -> list[ModelVersion]:
        return [v for (d, _), v in sorted(self.versions.items()) if d == dataset]

    def champion(self, dataset: str) -> ModelVersion | None:
        v = self.champions.get(dataset)
        return None if v is None else self.versions[(dataset, v)]

    def set_champion(self, dataset: str, version: int, *, expected: int | None) -> None:
        with self._lock:
            if self.champions.get(dataset) != expected:
                raise ConcurrentUpdate(
                    f"{dataset}: champion is v{self.champions.get(dataset)}, expected {expected}"
                )
            self.champions[dataset] = version

    def datasets(self) -> list[str]:
        return sorted(self.champions)

    def open_incident(self, dataset: str, incident: str, detail: str) -> bool:
        with self._lock:
            if (dataset, incident) in self.incidents:
                return False
            self.incidents[(dataset, incident)] = detail
            return True

    def forget_incident(self, dataset: str, incident: str) -> None:
        with self._lock:
            self.incidents.pop((dataset, incident), None)
