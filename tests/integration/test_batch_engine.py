"""The scale path: with TrainingEngine=batch the template creates a Batch queue and job
definition, and the training tasks run as jobs of `python -m tabflow.container_jobs` with only the job
definition's environment, handing their results to the Select step through S3."""

import json

import boto3
import pytest

from offline_aws.deploy import plan
from tabflow import container_jobs
from tests.conftest import ROOT
from tests.integration.conftest import Context
from tests.integration.test_handlers import REGION, executions, put


def _job_definition(aws) -> dict:
    batch = boto3.client("batch", region_name=REGION)
    (definition,) = batch.describe_job_definitions(
        jobDefinitions=[aws.ref("TrainingJobDefinition")]
    )["jobDefinitions"]
    return definition


def test_the_template_creates_the_batch_resources_only_when_asked(aws_batch):
    _, default = plan(ROOT, "tabflow-it")  # the default stack (TrainingEngine=lambda)
    assert not {"TrainingJobQueue", "TrainingJobDefinition"} & set(default.refs)
    definition = _job_definition(aws_batch)
    props = definition["containerProperties"]
    assert definition["platformCapabilities"] == ["FARGATE"]
    assert props["image"].endswith("/tabflow:1")
    assert {r["type"]: r["value"] for r in props["resourceRequirements"]} == {
        "VCPU": "8",
        "MEMORY": "61440",
    }
    assert props["jobRoleArn"].endswith(aws_batch.ref("TrainingJobRole"))
    batch = boto3.client("batch", region_name=REGION)
    (queue,) = batch.describe_job_queues(jobQueues=[aws_batch.ref("TrainingJobQueue")])["jobQueues"]
    assert queue["computeEnvironmentOrder"][0]["computeEnvironment"] == aws_batch.ref(
        "TrainingComputeEnvironment"
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition_text = sfn.describe_state_machine(
        stateMachineArn=aws_batch.ref("TrainingStateMachine")
    )["definition"]
    assert aws_batch.ref("TrainingJobQueue") in definition_text
    assert "arn:aws:states:::batch:submitJob.sync" in definition_text


def _run_job(monkeypatch, aws, task: str, event: dict, result_uri: str) -> int:
    """A job as the container runs it: the job definition's environment, the overrides the
    state machine adds, and nothing from the Lambda functions."""
    for spec in aws.functions.values():
        for key in spec.environment:
            monkeypatch.delenv(key, raising=False)
    for item in _job_definition(aws)["containerProperties"]["environment"]:
        monkeypatch.setenv(item["name"], item["value"])
    monkeypatch.setenv("TABFLOW_EVENT", json.dumps(event))
    monkeypatch.setenv("TABFLOW_RESULT_URI", result_uri)
    return container_jobs.main([task])


def test_training_runs_as_batch_jobs_and_select_collects_their_results(
    aws_batch, load_handler, telco_csv, monkeypatch
):
    aws = aws_batch
    ingest = load_handler("IngestFunction")
    ingest.lambda_handler(
        put(aws.ref("RawBucket"), "incoming/telco_churn/t.csv", telco_csv), Context()
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    state = json.loads(
        sfn.describe_execution(executionArn=executions(aws)[0]["executionArn"])["input"]
    )
    state["prepare"] = load_handler("PrepareFunction").prepare_handler(state, Context())
    assert state["prepare"]["engine"] == "batch"  # the stack's TrainingEngine
    models = f"s3://{aws.ref('ModelBucket')}/telco_churn/runs/{state['run_id']}/jobs"
    state["trials"] = []
    for t in state["prepare"]["trials"]:  # the Map state's TrialJobResult -> TrialJob
        uri = f"{models}/trial-{t['trial']}.json"
        event = {**state, "trial": t, "split_uri": state["prepare"]["split_uri"]}
        assert _run_job(monkeypatch, aws, "trial", event, uri) == 0
        state["trials"].append({"result_uri": uri})
    candidates = []
    for name in ("lightgbm", "linear"):  # the Parallel branches' <name>JobInput -> <name>Job
        uri = f"{models}/{name}.json"
        run = {k: state[k] for k in ("dataset", "run_id", "curated_uri", "contract_uri")}
        run |= {"prepare": {"split_uri": state["prepare"]["split_uri"]}, "trials": state["trials"]}
        assert _run_job(monkeypatch, aws, "train", {"candidate": name, "run": run}, uri) == 0
        candidates.append({"result_uri": uri})
    state["train"] = load_handler("SelectFunction").select_handler(
        {"results": candidates}, Context()
    )
    assert set(state["train"]["candidates"]) == {"lightgbm", "linear"}
    assert state["train"]["tuning"]["trial"] in {t["trial"] for t in state["prepare"]["trials"]}
    state["evaluation"] = load_handler("EvaluateFunction").lambda_handler(state, Context())
    assert state["evaluation"]["promote"], state["evaluation"]


def test_a_failing_job_exits_non_zero_and_writes_no_result(aws_batch, monkeypatch, capsys):
    s3 = boto3.client("s3", region_name=REGION)
    uri = f"s3://{aws_batch.ref('ModelBucket')}/x/runs/r/jobs/trial-0.json"
    event = {
        "dataset": "x",
        "run_id": "r",
        "contract_uri": f"s3://{aws_batch.ref('RawBucket')}/contracts/missing.yaml",
        "curated_uri": f"s3://{aws_batch.ref('LakeBucket')}/curated/x/data.parquet",
        "split_uri": "s3://nowhere/split.json",
        "trial": {"trial": 0, "params": {}},
    }
    assert _run_job(monkeypatch, aws_batch, "trial", event, uri) == 1
    listed = s3.list_objects_v2(Bucket=aws_batch.ref("ModelBucket"), Prefix="x/")
    assert listed["KeyCount"] == 0


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["fit"], {"TABFLOW_EVENT": "{}", "TABFLOW_RESULT_URI": "s3://b/k"}, "usage"),
        (["trial"], {"TABFLOW_EVENT": "{}"}, "TABFLOW_RESULT_URI not set"),
    ],
)
def test_a_job_started_wrongly_says_what_is_missing(argv, env, message, monkeypatch, capsys):
    monkeypatch.delenv("TABFLOW_EVENT", raising=False)
    monkeypatch.delenv("TABFLOW_RESULT_URI", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert container_jobs.main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_offline_aws_deploys_every_option_and_names_what_it_does_not_emulate():
    from moto import mock_aws

    from offline_aws.deploy import deploy

    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        dep = deploy(
            ROOT,
            "tabflow-opts",
            lambda s: boto3.client(s, region_name=REGION),
            {
                "TrainingEngine": "auto",
                "TrainingImage": "example.com/tabflow:1",
                "TrainingSubnets": ec2.describe_subnets()["Subnets"][0]["SubnetId"],
                "TrainingSecurityGroups": ec2.describe_security_groups()["SecurityGroups"][0][
                    "GroupId"
                ],
                "PredictIamAuth": "true",
            },
        )
        assert dep.function_by_logical("PrepareFunction").environment["TRAINING_ENGINE"] == "auto"
        assert "PredictIamApi (AWS::ApiGateway::RestApi)" in dep.skipped  # SigV4: AWS only
        assert dep.outputs["IamApiUrl"].endswith("/dev")
        batch = boto3.client("batch", region_name=REGION)
        assert batch.describe_job_queues()["jobQueues"][0]["state"] == "ENABLED"
