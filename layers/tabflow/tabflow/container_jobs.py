"""Training tasks as AWS Batch jobs: the scale path, for data that outgrows Lambda (15 minutes,
10 GB). ``run`` is what the Lambda handlers call too; a container runs it as:

    python -m tabflow.container_jobs trial|train

The state machine passes the task's event as JSON in TABFLOW_EVENT and the S3 URI for the
result in TABFLOW_RESULT_URI (``submitJob.sync`` returns the job's description, not its
output, so the next step reads the result from there: ``workflow.common.collect_results``). A failure
exits non-zero, which fails the job and so the workflow's step."""

import json
import os
import sys
import time

from tabflow.observability import logger
from tabflow.ports import ObjectStore, TableStore
from tabflow.settings import Settings
from tabflow.workflow.payloads import CandidateInput, CandidateOutput, Json, TrialInput, TrialOutput
from tabflow.workflow.train import train_candidate
from tabflow.workflow.trial import trial

TASKS = ("trial", "train")


def run(
    task: str,
    event: TrialInput | CandidateInput | Json,
    *,
    store: ObjectStore,
    tables: TableStore,
    settings: Settings,
) -> TrialOutput | CandidateOutput:
    """The task's event (its model, or the JSON the state machine passed) -> its result's
    model; the Lambda handler returns its ``dump()``, a job writes the same JSON."""
    if task == "trial":
        return trial(TrialInput.of(event), store=store, tables=tables)
    if task == "train":
        branch = CandidateInput.of(event)
        return train_candidate(
            branch.run,
            branch.candidate,
            store=store,
            tables=tables,
            model_bucket=settings.model_bucket,
            lake_bucket=settings.lake_bucket,
        )
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in TASKS:
        print(f"usage: python -m tabflow.container_jobs {'|'.join(TASKS)}", file=sys.stderr)
        return 2
    missing = [v for v in ("TABFLOW_EVENT", "TABFLOW_RESULT_URI") if not os.environ.get(v)]
    if missing:
        print(f"tabflow.container_jobs: {', '.join(missing)} not set", file=sys.stderr)
        return 2
    from tabflow.adapters.s3 import S3Store
    from tabflow.adapters.tables import WranglerTables

    task, event = args[0], json.loads(os.environ["TABFLOW_EVENT"])
    result_uri = os.environ["TABFLOW_RESULT_URI"]
    store = S3Store()
    started = time.perf_counter()
    try:
        result = run(
            task,
            event,
            store=store,
            tables=WranglerTables(),
            settings=Settings(),  # type: ignore[call-arg]
        )
    except Exception:
        logger.exception("training job failed", extra={"task": task, "result_uri": result_uri})
        return 1
    store.put(result_uri, json.dumps(result.dump(), default=str).encode(), "application/json")
    logger.info(
        "training job done",
        extra={
            "task": task,
            "result_uri": result_uri,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
