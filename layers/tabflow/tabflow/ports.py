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

    def get_exact(self, uri: str, *, version: str | None, etag: str | None) -> bytes:
        """The object an S3 event named: that ``version`` when the event carries one (a
        versioned bucket), else the current object only while its ETag is still ``etag``
        (ObjectChanged when it was overwritten since); plain ``get`` when neither is known."""
        ...

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
    """A registered version. Its files are immutable and belong to its run: readers follow
    these URIs (never rebuild a path from the version number)."""

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
    # sha256 of the feature spec and the calibrator (versions promoted before these existed
    # carry none: only their model file is checked)
    spec_sha256: str | None = None
    calibration_sha256: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    run_id: str
    created_at: datetime
    replaced: int | None = None  # the champion it replaced when promoted (None: the first)


class Registry(Protocol):
    def latest_version(self, dataset: str) -> int:
        """The highest version number registered for the dataset (0: none). Read it to
        allocate the next number; ``register`` decides who gets it."""
        ...

    def register(self, version: ModelVersion, *, expected: int | None) -> None:
        """Atomically add ``version`` and make it the champion, only if its number is still
        free, its run has no version yet and the champion pointer still points at ``expected``
        (None: no champion yet). All or nothing: raises RunAlreadyPromoted when the run has a
        version, ConcurrentUpdate when another promotion took the number or moved the pointer."""
        ...

    def version_of_run(self, dataset: str, run_id: str) -> ModelVersion | None:
        """The version a run registered, if any (a retried Promote finds its own)."""
        ...

    def put_version(self, version: ModelVersion) -> None:
        """Add a version without moving the champion (the number must be free)."""
        ...

    def get_version(self, dataset: str, version: int) -> ModelVersion: ...

    def list_versions(self, dataset: str) -> list[ModelVersion]: ...

    def champion(self, dataset: str) -> ModelVersion | None: ...

    def set_champion(self, dataset: str, version: int, *, expected: int | None) -> None:
        """Move the champion pointer only if it still points at ``expected`` (None: no
        champion yet). Raises ConcurrentUpdate otherwise."""
        ...

    def datasets(self) -> list[str]: ...

    def open_incident(self, dataset: str, incident: str, detail: str) -> bool:
        """Record an incident once across every process (a conditional write): True for the
        caller that opened it (and should alert), False when it was already open."""
        ...

    def forget_incident(self, dataset: str, incident: str) -> None:
        """Forget an incident (its alert could not be sent: the next process tries again)."""
        ...
