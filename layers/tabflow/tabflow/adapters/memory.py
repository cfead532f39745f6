"""In-memory implementations of the ports, for unit tests and local experiments."""

import io
from typing import Any

import pandas as pd

from tabflow.errors import ConcurrentUpdate, ModelNotFound, ObjectNotFound
from tabflow.ports import Email, ModelVersion


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get(self, uri: str) -> bytes:
        try:
            return self.objects[uri]
        except KeyError:
            raise ObjectNotFound(uri) from None

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
    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], ModelVersion] = {}
        self.champions: dict[str, int] = {}

    def next_version(self, dataset: str) -> int:
        return 1 + max((v for d, v in self.versions if d == dataset), default=0)

    def put_version(self, version: ModelVersion) -> None:
        key = (version.dataset, version.version)
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
        if self.champions.get(dataset) != expected:
            raise ConcurrentUpdate(
                f"{dataset}: champion is v{self.champions.get(dataset)}, expected {expected}"
            )
        self.champions[dataset] = version

    def datasets(self) -> list[str]:
        return sorted(self.champions)
