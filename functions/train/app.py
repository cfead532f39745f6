"""Step Functions tasks of the training workflow, one handler each (same code and layers):
prepare (split, folds, trials) -> trial (one cross-validated parameter set, fanned out by a
Map state) -> train (one candidate per parallel branch) -> select (on validation rows).

Each handler parses its event into its input model (workflow.payloads), calls the task, and
returns the task's output model dumped to the JSON the state machine passes on."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow import container_jobs
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.tables import WranglerTables
from tabflow.observability import logger, tracer
from tabflow.settings import TrainingSettings
from tabflow.workflow.payloads import CandidateInput, Run, SelectInput, TrialInput
from tabflow.workflow.prepare import prepare
from tabflow.workflow.select import select

settings = TrainingSettings()  # type: ignore[call-arg]
store = S3Store()
tables = WranglerTables()

# Every log line of a task carries the run it works for: the run_id as the correlation id
# (a JMESPath on the task's input), the dataset and the task's own item as appended keys;
# clear_state=True drops the previous invocation's keys in a warm environment.
RUN_ID = "run_id"  # Prepare and Trial get the run state's fields at the top
CANDIDATE_RUN_ID = "run.run_id"  # Train gets {"candidate": ..., "run": state}


@logger.inject_lambda_context(log_event=False, correlation_id_path=RUN_ID, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
def prepare_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = parse(event, model=Run)
    logger.append_keys(dataset=run.dataset)
    return prepare(
        run,
        store=store,
        tables=tables,
        lake_bucket=settings.lake_bucket,
        engine=settings.training_engine,
        batch_switch_cells=settings.batch_switch_cells,
    ).dump()


@logger.inject_lambda_context(log_event=False, correlation_id_path=RUN_ID, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
def trial_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    trial = parse(event, model=TrialInput)
    logger.append_keys(dataset=trial.dataset, trial=trial.trial.trial)
    return container_jobs.run("trial", trial, store=store, tables=tables, settings=settings).dump()


@logger.inject_lambda_context(
    log_event=False, correlation_id_path=CANDIDATE_RUN_ID, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One candidate ({"candidate": "lightgbm" | "linear", "run": state}); the workflow runs
    the candidates in parallel branches. The same call as a Batch job's (tabflow.container_jobs)."""
    candidate = parse(event, model=CandidateInput)
    logger.append_keys(dataset=candidate.run.dataset, candidate=candidate.candidate)
    result = container_jobs.run("train", candidate, store=store, tables=tables, settings=settings)
    return result.dump()


# Select's input is the candidates' results only (no run_id to correlate on).
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
def select_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return select(parse(event, model=SelectInput).results, store).dump()
