"""The training workflow's data, typed: the input and output of every Step Functions task, and
the run state they accumulate (statemachines/training.asl.json). One module, so the JSONPaths
of the ASL, the handlers and the tasks agree on one shape (tests/unit/test_payloads.py checks
every path of the ASL against these models, and each model against real payloads).

The flow, as ResultPaths of the run state (``RunState``):
    start payload (``Run``, built by ``start_payload``)
    -> $.prepare (``PrepareOutput``) -> $.trials (``TrialOutput`` per ``TrialInput``)
    -> $.candidates (``CandidateOutput`` per ``CandidateInput``) -> $.train (``Selection``)
    -> $.evaluation (``Evaluation``) -> $.promotion (``Promotion``)
    -> $.notification (``NotifyOutput`` of a ``NotifyInput``); a caught failure adds
    $.error (``TaskError``) and $.failed_step.
A task run as an AWS Batch job returns nothing: its result is the JSON it wrote, named by a
``JobResult`` pointer (``workflow.common.collect_results`` reads it).

Inputs that are the run state carry whatever the ASL put there (``extra="allow"``) and type
the fields their task reads; outputs are built by the tasks and forbid unknown keys. Plain
pydantic: no data stack, so Select, Promote and Notify stay light."""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

Json = dict[str, Any]


class Payload(BaseModel):
    """An output a task builds: unknown keys are a mistake."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def of(cls, value: Any) -> Self:
        """The model of ``value``: already one, or the JSON the workflow passes."""
        return value if isinstance(value, cls) else cls.model_validate(value)

    def dump(self) -> Json:
        """The JSON on the wire: the fields that were given, in the declared order."""
        return self.model_dump(mode="json", exclude_unset=True)


class State(Payload):
    """A task input that is (part of) the run state: keys the ASL carries along are kept."""

    model_config = ConfigDict(extra="allow")


class JobResult(Payload):
    """Where a task run as an AWS Batch job left its result (the ASL's States.Format key)."""

    result_uri: str


class TaskError(State):
    """What a Catch puts at $.error."""

    Error: str = "unknown"
    Cause: str = ""


class RunRef(State):
    """What every task reads to find the run's data."""

    dataset: str
    run_id: str
    curated_uri: str
    contract_uri: str


class Run(RunRef):
    """The start payload of an execution (ingest, or the monitor's retraining)."""

    report_uri: str | None = None
    source_uri: str | None = None
    source_sha256: str | None = None
    counts: Json | None = None  # ingest's row counts: shown, read by no task
    trigger: str | None = None  # "monitor" for a retraining
    labelled_rows_added: int | None = None
    engine: str | None = None  # an execution may ask for "lambda" or "batch"


def start_payload(
    *,
    dataset: str,
    run_id: str,
    curated_uri: str,
    contract_uri: str,
    report_uri: str,
    source_uri: str | None,
    source_sha256: str | None,
    counts: Json | None,
    trigger: str | None = None,
    labelled_rows_added: int | None = None,
) -> Json:
    """The input of a training execution: the one place it is built. The source fields are
    always on the wire (null when a retraining has no one file); a retraining adds its
    trigger and labelled rows."""
    source = dict(
        report_uri=report_uri, source_uri=source_uri, source_sha256=source_sha256, counts=counts
    )
    retrain = dict(trigger=trigger, labelled_rows_added=labelled_rows_added)
    source |= {k: v for k, v in retrain.items() if v is not None}
    ids = dict(dataset=dataset, run_id=run_id, curated_uri=curated_uri, contract_uri=contract_uri)
    return Run(**ids, **source).dump()


class TrialSpec(Payload):
    trial: int
    params: Json


class PrepareOutput(Payload):
    split_uri: str
    split: str  # "time", "stratified" or "random"
    engine: str  # "lambda" or "batch"
    trials: list[TrialSpec]
    candidates: list[str] = ["lightgbm", "linear"]  # the model kinds the Train Map fits


class TrialInput(RunRef):
    """One item of the Tune Map (its ItemSelector)."""

    trial: TrialSpec
    split_uri: str
    engine: str | None = None
    result: JobResult | None = None  # set when the trial runs as a Batch job


class TrialOutput(Payload):
    trial: int
    params: Json
    score: float
    fold_scores: list[float]
    metric: str
    folds_done: int
    rounds: int
    stopped: str
    seconds: float


class SplitRef(State):
    split_uri: str
    engine: str | None = None  # read by the Train Map's engine choice, not by the task


class TrainRun(RunRef):
    """The run state a candidate reads (a Batch job gets only these keys)."""

    prepare: SplitRef | None = None  # absent when a tool trains without the Prepare step
    trials: list[TrialOutput | JobResult] | None = None


class CandidateInput(State):
    """One item of the Train Map (a model kind and the run state)."""

    candidate: str
    run: TrainRun
    result: JobResult | None = None  # set when the candidate trains as a Batch job


class Rows(Payload):
    train: int
    validation: int
    test: int


class Candidate(Payload):
    """A trained candidate as Select keeps it."""

    model_uri: str
    calibration_uri: str
    reference_uri: str
    params: Json
    calibration: str
    threshold: float
    threshold_reason: str
    validation: dict[str, int | float | None]  # metrics, and a regression's row count


class CandidateOutput(Candidate):
    """A Train item's output: the candidate, and what the run's later tasks read of it."""

    name: str
    # written by the candidate that describes the run (LightGBM) only
    spec_uri: str | None = None
    importance: dict[str, float] | None = None
    baseline: Json | None = None  # a regression's seasonal baseline
    split_uri: str
    split: str
    task: str
    tuning: Json | None
    rows: Rows

    def candidate(self) -> Candidate:
        return Candidate.model_validate(self.model_dump(include=set(Candidate.model_fields)))


class SelectInput(State):
    results: list[CandidateOutput | JobResult]


class Selection(Payload):
    """Select's output, at $.train."""

    candidates: dict[str, Candidate]
    chosen: str
    spec_uri: str
    split_uri: str
    split: str
    tuning: Json | None
    importance: dict[str, float]
    rows: Rows
    baseline: Json | None = None

    def dump(self) -> Json:
        return self.model_dump(mode="json")


class EvaluateInput(RunRef):
    train: Selection


class Evaluation(Payload):
    """Evaluate's output, at $.evaluation (the Gate reads ``promote``)."""

    promote: bool
    winner: str
    metrics: Json
    all_metrics: dict[str, Json]
    gates: list[Json]
    failed_gates: list[str]
    passed_over: Json | None = None
    champion_version: int | None = None
    threshold: float
    labels: Json | None = None
    evaluation_uri: str
    report_uri: str
    model_card_uri: str

    def dump(self) -> Json:
        return self.model_dump(mode="json")


class PromoteInput(RunRef):
    source_uri: str | None = None
    source_sha256: str | None = None
    train: Selection
    evaluation: Evaluation


class Promotion(Payload):
    """Promote's output, at $.promotion."""

    version: int
    run_id: str
    model_uri: str
    metadata_uri: str
    report_uri: str
    model_card_uri: str
    previous_version: int | None

    def dump(self) -> Json:
        return self.model_dump(mode="json")


class NotifyRun(State):
    """What Notify reads of the run state; a failed run may have little more than its ids."""

    dataset: str = "?"
    run_id: str = "?"
    contract_uri: str | None = None
    evaluation: Evaluation | None = None
    promotion: Promotion | None = None
    error: TaskError | None = None
    failed_step: str | None = None


class NotifyInput(State):
    kind: str  # "promoted", "rejected" or "failed"
    run: NotifyRun


class NotifyOutput(Payload):
    message_id: str
    subject: str


class RunState(Run):
    """The execution's state as the steps fill it in (the ResultPaths of the ASL)."""

    prepare: PrepareOutput | None = None
    trials: list[TrialOutput | JobResult] | None = None
    candidates: list[CandidateOutput | JobResult] | None = None
    train: Selection | None = None
    evaluation: Evaluation | None = None
    promotion: Promotion | None = None
    notification: NotifyOutput | None = None
    error: TaskError | None = None
    failed_step: str | None = None
