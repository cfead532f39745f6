"""The capture of what the API saw and answered (captures/<dataset>/dt=.../*.jsonl), written
off the response's critical path; the drift monitor reads it."""

import atexit
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from tabflow.observability import logger
from tabflow.ports import ObjectStore, s3_uri

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
