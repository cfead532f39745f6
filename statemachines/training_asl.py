"""The training state machine's source: training.asl.json is generated from this file.

ASL (JSON) cannot share a block, so the retry policy every Lambda task carries and the
per-candidate branches of Train would be written out by hand many times. Here each is written
once: ``LAMBDA_RETRY`` and ``task`` for the tasks, ``train`` for the Map over the candidates
(each its Lambda task or, with engine batch, its AWS Batch job), ``caught`` for the Pass state
that names the failed step. template.yaml deploys the generated JSON (DefinitionUri, with the
``${...}`` DefinitionSubstitutions left as they are); tests/unit/test_template.py fails when
the committed JSON differs from what this file generates.

    python statemachines/training_asl.py          # rewrite training.asl.json
    python statemachines/training_asl.py --check  # exit 1 when it is stale

Adding a model kind changes nothing here: Prepare lists the kinds (tabflow.models.base.KINDS)
and the Train Map runs one item per kind; the workflow's payloads are typed in
tabflow.workflow.payloads."""

import json
import sys
from pathlib import Path
from typing import Any

State = dict[str, Any]

TARGET = Path(__file__).with_name("training.asl.json")

# What every Lambda task retries: the Lambda service's transient errors and the adapters'
# TransientError (throttling that botocore's own retries did not absorb).
LAMBDA_RETRY: State = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        "Lambda.SdkClientException",
        "TransientError",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}
BATCH_RETRY: State = {
    "ErrorEquals": ["Batch.AWSBatchException", "Batch.ServerException"],
    "IntervalSeconds": 5,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}
# Promote is idempotent per run, so a killed worker or a lost race for the version number is
# simply run again (tests/integration/test_promotion_race.py reads this budget).
PROMOTE_RETRY: State = {
    "ErrorEquals": ["PromotionConflict", "Lambda.Unknown"],
    "IntervalSeconds": 1,
    "MaxAttempts": 4,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}
# The failure email must go out even when the Lambda fails for a reason nobody foresaw.
NOTIFY_FAILURE_RETRY: State = {**LAMBDA_RETRY, "ErrorEquals": ["States.ALL"]}

JOB_COMMENT = (
    "The same training code as the Lambda task, in a container on AWS Batch (the scale path);"
    " the job writes its result to result_uri."
)


def catch(step: str) -> list[State]:
    """Any error of ``step`` goes, with the error at $.error, to the Pass state naming it."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{step}Failed"}]


def caught(step: str) -> State:
    """The Pass state a Catch of ``step`` leads to: records the step, then the failure email."""
    return {"Type": "Pass", "Result": step, "ResultPath": "$.failed_step", "Next": "NotifyFailure"}


def task(resource: str, *, retry: list[State] | None = None, **fields: Any) -> State:
    """A Lambda task (``${<Name>FunctionArn}``) with the Lambda retry policy, or ``retry``."""
    return {
        "Type": "Task",
        "Resource": resource,
        **fields,
        "Retry": retry if retry is not None else [LAMBDA_RETRY],
    }


def caught_task(name: str, resource: str, *, next_: str, **fields: Any) -> State:
    """A top-level task whose failure is caught (``caught(name)``) and emailed."""
    return {**task(resource, **fields), "Catch": catch(name), "Next": next_}


def engine_choice(variable: str, batch: str, default: str) -> State:
    """Lambda by default; the AWS Batch path when Prepare chose engine batch."""
    return {
        "Type": "Choice",
        "Choices": [{"Variable": variable, "StringEquals": "batch", "Next": batch}],
        "Default": default,
    }


def batch_job(job_name: str, command: str) -> State:
    """The same task as a Batch job; its input carries ``result.result_uri``, the pointer that
    becomes the state's output (the job writes its result there)."""
    return {
        "Type": "Task",
        "Comment": JOB_COMMENT,
        "Resource": "arn:aws:states:::batch:submitJob.sync",
        "Parameters": {
            "JobName.$": job_name,
            "JobQueue": "${TrainingJobQueueArn}",
            "JobDefinition": "${TrainingJobDefinitionArn}",
            "ContainerOverrides": {
                "Command": ["python", "-m", "tabflow.container_jobs", command],
                "Environment": [
                    {"Name": "TABFLOW_EVENT", "Value.$": "States.JsonToString($)"},
                    {"Name": "TABFLOW_RESULT_URI", "Value.$": "$.result.result_uri"},
                ],
            },
        },
        "ResultPath": None,
        "OutputPath": "$.result",
        "Retry": [BATCH_RETRY],
        "End": True,
    }


def result_uri(key: str, *paths: str) -> str:
    """Where a Batch job writes its result, under the run's prefix in the model bucket."""
    uri = "s3://${ModelBucketName}/{}/runs/{}/jobs/" + key
    return f"States.Format('{uri}', {', '.join(paths)})"


def tune() -> State:
    return {
        "Type": "Map",
        "Comment": (
            "Tuning trials in parallel: each one cross-validates one parameter set, in a Lambda"
            " or (engine batch) an AWS Batch job."
        ),
        "ItemsPath": "$.prepare.trials",
        "MaxConcurrency": 8,
        "ItemSelector": {
            "trial.$": "$$.Map.Item.Value",
            "dataset.$": "$.dataset",
            "run_id.$": "$.run_id",
            "curated_uri.$": "$.curated_uri",
            "contract_uri.$": "$.contract_uri",
            "split_uri.$": "$.prepare.split_uri",
            "engine.$": "$.prepare.engine",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "TrialEngine",
            "States": {
                "TrialEngine": engine_choice("$.engine", "TrialJobResult", "Trial"),
                "Trial": {**task("${TrialFunctionArn}"), "End": True},
                "TrialJobResult": {
                    "Type": "Pass",
                    "Parameters": {
                        "result_uri.$": result_uri(
                            "trial-{}.json", "$.dataset", "$.run_id", "$.trial.trial"
                        )
                    },
                    "ResultPath": "$.result",
                    "Next": "TrialJob",
                },
                "TrialJob": batch_job(
                    "States.Format('{}-{}-trial-{}', $.dataset, $.run_id, $.trial.trial)", "trial"
                ),
            },
        },
        "ResultPath": "$.trials",
        "Catch": catch("Tune"),
        "Next": "Train",
    }


def train() -> State:
    """The candidates side by side: a Map over the kinds Prepare lists (tabflow.models.KINDS),
    each item the Train Lambda with ``candidate`` = kind, or (engine batch) its Batch job."""
    job_input = {
        "Type": "Pass",
        "Comment": "Only what the task reads, so the job's environment stays small.",
        "Parameters": {
            "candidate.$": "$.candidate",
            "run": {
                "dataset.$": "$.run.dataset",
                "run_id.$": "$.run.run_id",
                "curated_uri.$": "$.run.curated_uri",
                "contract_uri.$": "$.run.contract_uri",
                "prepare": {"split_uri.$": "$.run.prepare.split_uri"},
                "trials.$": "$.run.trials",
            },
            "result": {
                "result_uri.$": result_uri(
                    "{}.json", "$.run.dataset", "$.run.run_id", "$.candidate"
                )
            },
        },
        "Next": "CandidateJob",
    }
    return {
        "Type": "Map",
        "Comment": (
            "The candidates train side by side, each in its own Lambda or (engine batch) AWS"
            " Batch job; a new model kind is a new module, not a new branch."
        ),
        "ItemsPath": "$.prepare.candidates",
        "ItemSelector": {"candidate.$": "$$.Map.Item.Value", "run.$": "$"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "CandidateEngine",
            "States": {
                "CandidateEngine": engine_choice(
                    "$.run.prepare.engine", "CandidateJobInput", "TrainCandidate"
                ),
                "TrainCandidate": {**task("${TrainFunctionArn}"), "End": True},
                "CandidateJobInput": job_input,
                "CandidateJob": batch_job(
                    "States.Format('{}-{}-{}', $.run.dataset, $.run.run_id, $.candidate)", "train"
                ),
            },
        },
        "ResultPath": "$.candidates",
        "Catch": catch("Train"),
        "Next": "Select",
    }


def notify(kind: str, **fields: Any) -> State:
    return task(
        "${NotifyFunctionArn}",
        Parameters={"kind": kind, "run.$": "$"},
        ResultPath="$.notification",
        **fields,
    )


def definition() -> State:
    return {
        "Comment": (
            "Prepare (split, trials) -> tune (Map of cross-validated trials) -> train candidates"
            " (Map over the model kinds) -> select on validation rows -> evaluate on held-out rows -> gate ->"
            " promote or reject -> notify. Trials and candidates run in Lambda or, for data past"
            " Lambda's limits, as AWS Batch jobs of the same code (engine chosen by Prepare)."
            " Payloads carry S3 URIs and small summaries, never data. Generated from"
            " training_asl.py: edit that file, then run it."
        ),
        "StartAt": "Prepare",
        "States": {
            "Prepare": caught_task(
                "Prepare", "${PrepareFunctionArn}", ResultPath="$.prepare", next_="Tune"
            ),
            "Tune": tune(),
            "Train": train(),
            "Select": caught_task(
                "Select",
                "${SelectFunctionArn}",
                Parameters={"results.$": "$.candidates"},
                ResultPath="$.train",
                next_="Evaluate",
            ),
            "Evaluate": caught_task(
                "Evaluate", "${EvaluateFunctionArn}", ResultPath="$.evaluation", next_="Gate"
            ),
            "Gate": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.evaluation.promote", "BooleanEquals": True, "Next": "Promote"}
                ],
                "Default": "NotifyRejected",
            },
            "Promote": caught_task(
                "Promote",
                "${PromoteFunctionArn}",
                Comment=(
                    "Idempotent per run (files under the run's own prefix, one conditional"
                    " transaction registers the version and moves the champion), so a killed"
                    " worker (Lambda.Unknown) or a promotion that lost the race for a version"
                    " number too often (PromotionConflict) is simply run again."
                ),
                ResultPath="$.promotion",
                retry=[LAMBDA_RETRY, PROMOTE_RETRY],
                next_="NotifyPromoted",
            ),
            "NotifyPromoted": {**notify("promoted"), "End": True},
            "NotifyRejected": {**notify("rejected"), "Next": "Rejected"},
            "Rejected": {
                "Type": "Succeed",
                "Comment": "The run completed; the gates kept the current champion.",
            },
            **{
                f"{step}Failed": caught(step)
                for step in ("Prepare", "Tune", "Train", "Select", "Evaluate", "Promote")
            },
            "NotifyFailure": {**notify("failed", retry=[NOTIFY_FAILURE_RETRY]), "Next": "Failed"},
            "Failed": {
                "Type": "Fail",
                "Error": "TrainingRunFailed",
                "Cause": (
                    "A training step failed; the champion is unchanged and a failure email was"
                    " sent."
                ),
            },
        },
    }


def render() -> str:
    return json.dumps(definition(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text() != text:
            print(f"{TARGET.name} is stale: run python statemachines/{Path(__file__).name}")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
