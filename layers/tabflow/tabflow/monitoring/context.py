"""What the monitoring use case works with: the ports and the buckets."""

from collections.abc import Callable
from dataclasses import dataclass

from tabflow.ports import Mailer, ObjectStore, Registry, TableStore, Workflow


@dataclass(frozen=True)
class MonitorContext:
    registry: Registry
    store: ObjectStore
    mailer: Mailer
    lake_bucket: str
    raw_bucket: str
    recipients: list[str]
    workflow: Workflow | None = None
    tables: TableStore | None = None  # set: retraining adds the labelled captures to the data
    pii_salt: Callable[[], str] | None = None  # label ids of a pii: hash id are hashed with it
