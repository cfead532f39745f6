"""The capture of what the API saw and answered (captures/<dataset>/dt=.../*.jsonl), written
before each invocation ends; the monitor reads it."""

import atexit
import queue
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
    """The API's captures, written before each invocation ends.

    Requests append their (unrendered) captures; the handler ends every invocation with
    ``end_invocation``, which hands what is buffered to a writer thread and waits until it is
    written: at most ``max_wait`` seconds, and never past the invocation's deadline (a slow S3
    must not turn a served prediction into a timeout; what is still being written then is
    logged and finishes when the environment next runs).

    Why not a background flush every second: Lambda freezes an environment as soon as the
    handler returns and may retire it while idle without a signal (no SIGTERM for a function
    without an extension, and atexit does not run), so anything still in memory after an
    invocation could be lost. Measured cost: bench/cases.py ``predict_capture``."""

    def __init__(
        self,
        store: ObjectStore,
        lake_bucket: str,
        *,
        max_wait: float = 5.0,
        max_lines: int = 20_000,
    ):
        super().__init__(store, lake_bucket)
        self._max_wait, self._max = max_wait, max_lines
        self._pending: dict[str, list[CaptureLines]] = {}
        self._counts: dict[str, int] = {}
        self._unwritten = 0  # batches handed to the writer and not written yet
        self._changed = threading.Condition()
        self._batches: queue.SimpleQueue[dict[str, list[CaptureLines]]] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="capture-writer").start()
        atexit.register(self.flush, 10.0)  # tools and tests; Lambda does not rely on it

    def add(self, dataset: str, lines: CaptureLines, count: int) -> None:
        with self._changed:
            self._pending.setdefault(dataset, []).append(lines)
            self._counts[dataset] = self._counts.get(dataset, 0) + count
            if self._counts[dataset] >= self._max:  # a very large invocation: start writing
                self._hand_over()

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything buffered; True once all of it is written, False if some is still
        being written after ``timeout`` seconds."""
        with self._changed:
            self._hand_over()
            return self._changed.wait_for(lambda: self._unwritten == 0, timeout)

    def end_invocation(self, remaining_seconds: float | None = None) -> bool:
        """Called by the handler before it returns: this invocation's captures are written
        (bounded by ``max_wait`` and the time the invocation has left, less a second)."""
        wait = self._max_wait
        if remaining_seconds is not None:
            wait = max(0.0, min(wait, remaining_seconds - 1.0))
        done = self.flush(wait)
        if not done:
            logger.warning("captures still being written at the end of the invocation")
        return done

    def _hand_over(self) -> None:  # holding self._changed
        if self._pending:
            batches, self._pending, self._counts = self._pending, {}, {}
            self._unwritten += 1
            self._batches.put(batches)

    def _run(self) -> None:
        while True:
            batches = self._batches.get()
            try:
                for dataset, makers in batches.items():
                    try:
                        lines = [line for make in makers for line in make()]
                    except Exception:  # a capture failure must not fail a prediction
                        logger.exception("capture failed", extra={"dataset": dataset})
                        continue
                    if lines:
                        self.write(dataset, lines)
            finally:
                with self._changed:
                    self._unwritten -= 1
                    self._changed.notify_all()
