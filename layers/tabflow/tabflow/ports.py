"""Interfaces between the domain and the outside world.

Adapters in tabflow.adapters implement them on AWS (boto3, awswrangler); in-memory fakes in
tabflow.adapters.memory implement them for unit tests. Domain code only sees these."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    import pandas as pd


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


class ObjectStore(Protocol):
    def get(self, uri: str) -> bytes: ...

    def put(
        self, uri: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None: ...

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of the objects under a prefix, sorted."""
        ...


class TableStore(Protocol):
    def write_parquet(self, frame: "pd.DataFrame", uri: str) -> None: ...

    def read_parquet(self, uri: str) -> "pd.DataFrame": ...


class Email(BaseModel):
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    def send(self, email: Email, recipients: list[str]) -> str:
        """Returns the message id."""
        ...


class Workflow(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start a training run; idempotent on name. Returns the execution ARN."""
        ...


class ModelVersion(BaseModel):
    dataset: str
    version: int
    kind: str  # lightgbm | linear
    model_uri: str
    sha256: str
    spec_uri: str
    reference_uri: str
    metadata_uri: str
    threshold: float
    calibration_uri: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    run_id: str
    created_at: datetime


class Registry(Protocol):
    def next_version(self, dataset: str) -> int: ...

    def put_version(self, version: ModelVersion) -> None: ...

    def get_version(self, dataset: str, version: int) -> ModelVersion: ...

    def list_versions(self, dataset: str) -> list[ModelVersion]: ...

    def champion(self, dataset: str) -> ModelVersion | None: ...

    def set_champion(self, dataset: str, version: int, *, expected: int | None) -> None:
        """Move the champion pointer only if it still points at ``expected`` (None: no
        champion yet). Raises ConcurrentUpdate otherwise."""
        ...

    def datasets(self) -> list[str]: ...
