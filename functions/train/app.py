"""Step Functions tasks of the training workflow, one handler each (same code and layers):
prepare (split, folds, trials) -> trial (one cross-validated parameter set, fanned out by a
Map state) -> train (one candidate per parallel branch) -> select (on validation rows)."""

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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def prepare_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(
        parse(event, model=Run),
        store=store,
        tables=tables,
        lake_bucket=settings.lake_bucket,
        engine=settings.training_engine,
        batch_switch_cells=settings.batch_switch_cells,
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def trial_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return container_jobs.run(
        "trial", parse(event, model=TrialInput), store=store, tables=tables, settings=settings
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One candidate ({"candidate": "lightgbm" | "linear", "run": state}); the workflow runs
    the candidates in parallel branches. The same call as a Batch job's (tabflow.container_jobs)."""
    return container_jobs.run(
        "train", parse(event, model=CandidateInput), store=store, tables=tables, settings=settings
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def select_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return select(parse(event, model=SelectInput).results, store)
