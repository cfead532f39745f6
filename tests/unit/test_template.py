"""Static checks of template.yaml and the state machine: wiring, and security by default,
read from the template as CloudFormation sees it (after the SAM transform)."""

import ast
import importlib.util
import json
import re

import pytest

from offline_aws.cfn import transformed
from offline_aws.deploy import plan
from offline_aws.template import load_template
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
ASL = json.loads((ROOT / "statemachines" / "training.asl.json").read_text())


@pytest.fixture(scope="module")
def cfn() -> dict:
    return transformed(ROOT)["Resources"]


@pytest.mark.parametrize("logical", sorted(FUNCTIONS))
def test_every_function_points_at_a_handler_that_exists(logical):
    props = FUNCTIONS[logical]["Properties"]
    module, func = props["Handler"].split(".")
    source = (ROOT / props["CodeUri"] / f"{module}.py").read_text()
    names = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
    assert func in names


def test_state_machine_substitutions_cover_every_placeholder():
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(ASL)))
    machine = RESOURCES["TrainingStateMachine"]["Properties"]
    assert placeholders == set(machine["DefinitionSubstitutions"])


def _asl_source():
    path = ROOT / "statemachines" / "training_asl.py"
    spec = importlib.util.spec_from_file_location("training_asl", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_asl_is_what_its_source_generates():
    """training.asl.json is generated (ASL cannot share a retry block or a branch): an edit of
    the JSON alone, or of the source without regenerating, is caught here."""
    source = _asl_source()
    assert source.render() == (ROOT / "statemachines" / "training.asl.json").read_text(), (
        "statemachines/training.asl.json is stale: run python statemachines/training_asl.py"
    )


def test_every_lambda_task_carries_the_one_retry_policy_and_every_candidate_a_branch():
    source = _asl_source()
    lambda_tasks = {
        name: s
        for name, s in _all_states(ASL["States"]).items()
        if s["Type"] == "Task" and s["Resource"].endswith("FunctionArn}")
    }
    # Prepare, Trial, Train (one Map item per candidate), Select, Evaluate, Promote, 3 Notify
    assert len(lambda_tasks) == 9
    for name, state in lambda_tasks.items():
        if name != "NotifyFailure":  # retries anything: the failure email must go out
            assert state["Retry"][0] == source.LAMBDA_RETRY, name
    train = ASL["States"]["Train"]
    assert train["ItemsPath"] == "$.prepare.candidates"
    assert train["ItemSelector"]["candidate.$"] == "$$.Map.Item.Value"


def _all_states(states: dict) -> dict:
    out = dict(states)
    for state in states.values():
        for branch in state.get("Branches", []):
            out.update(_all_states(branch["States"]))
        if "ItemProcessor" in state:
            out.update(_all_states(state["ItemProcessor"]["States"]))
    return out


def test_every_task_retries_transient_errors_and_failures_reach_the_notification():
    tasks = {name: s for name, s in ASL["States"].items() if s["Type"] == "Task"}
    assert {
        "Prepare",
        "Select",
        "Evaluate",
        "Promote",
        "NotifyPromoted",
        "NotifyRejected",
        "NotifyFailure",
    } <= set(tasks)
    assert ASL["States"]["Tune"]["Type"] == "Map" and ASL["States"]["Train"]["Type"] == "Map"
    assert ASL["States"]["Train"]["Catch"][0]["Next"] == "TrainFailed"
    for name, state in tasks.items():
        assert state.get("Retry"), f"{name} has no Retry"
        if not name.startswith("Notify"):
            (catch,) = state["Catch"]
            pass_state = ASL["States"][catch["Next"]]
            assert pass_state["Type"] == "Pass" and pass_state["Result"] == name
            assert pass_state["Next"] == "NotifyFailure"
    assert ASL["States"]["NotifyFailure"]["Next"] == "Failed"
    assert ASL["States"]["Gate"]["Type"] == "Choice"


def test_buckets_are_encrypted_private_and_tls_only(cfn):
    buckets = {k: v["Properties"] for k, v in cfn.items() if v["Type"] == "AWS::S3::Bucket"}
    policies = {
        v["Properties"]["Bucket"]["Ref"]: v["Properties"]["PolicyDocument"]
        for v in cfn.values()
        if v["Type"] == "AWS::S3::BucketPolicy"
    }
    assert set(buckets) == {"RawBucket", "LakeBucket", "ModelBucket"}
    for name, props in buckets.items():
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert len(props["PublicAccessBlockConfiguration"]) == 4
        deny = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in deny), name
    assert buckets["ModelBucket"]["VersioningConfiguration"]["Status"] == "Enabled"
    assert (
        buckets["RawBucket"]["VersioningConfiguration"]["Status"] == "Enabled"
    )  # raw files survive overwrites


def test_no_role_allows_a_wildcard_action(cfn):
    roles = {k: v for k, v in cfn.items() if v["Type"] == "AWS::IAM::Role"}
    # one per function, one for the state machine, one for CodeDeploy (the predict canary),
    # and the training job's task and execution roles (TrainingEngine batch or auto)
    assert len(roles) == len(FUNCTIONS) + 4 and "CodeDeployServiceRole" in roles
    assert roles["TrainingJobRole"]["Condition"] == "UseBatch"
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            if "Fn::If" in policy:  # a conditional policy: check the branch that is a policy
                policy = next(
                    p for p in policy["Fn::If"][1:] if isinstance(p, dict) and "PolicyDocument" in p
                )
            for stmt in policy["PolicyDocument"]["Statement"]:
                if stmt["Effect"] != "Allow":
                    continue
                actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
                for action in actions:
                    assert action != "*" and not action.endswith(":*"), f"{name}: {action}"


def test_the_registry_table_is_encrypted_and_recoverable(cfn):
    table = cfn["RegistryTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_no_code_loads_models_with_pickle_style_serialisers():
    pattern = re.compile(r"\b(pickle|joblib|cloudpickle|dill)\b")
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("functions", "layers")
        for p in (ROOT / folder).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []


def test_predictions_roll_out_as_a_canary_that_rolls_back_on_errors(cfn):
    group = next(v for v in cfn.values() if v["Type"] == "AWS::CodeDeploy::DeploymentGroup")
    props = group["Properties"]
    assert props["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"] == "Canary10Percent5Minutes"
    assert props["AlarmConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in props["AutoRollbackConfiguration"]["Events"]


def test_operations_are_watched_on_aws():
    alarms = {
        k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
    } <= watched
    latency = next(a for a in alarms.values() if a["MetricName"] == "Latency")
    assert latency["ExtendedStatistic"] == "p99"
    for name in ("TrainingFailedAlarm", "Api5xxAlarm", "ApiLatencyAlarm"):
        assert alarms[name]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert RESOURCES["AlarmEmail"]["Properties"]["Protocol"] == "email"
    body = json.loads(
        RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .replace("${AWS::Region}", "r")
        .replace("${TrainingStateMachine}", "sm")
        .replace("${AWS::StackName}", "s")
        .replace("${AWS::Partition}", "aws")
    )
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == [
        "Training runs",
        "Files and gate outcomes",
        "Prediction API latency and errors",
        "Drift: features that moved, labelled AUC",
        "Training jobs on AWS Batch (TrainingEngine batch or auto)",
        "Drift: PSI of observed values per feature",
    ]
    # PSI is one metric with a feature dimension (functions/monitor/app.py), not a name each
    (psi,) = [w for w in body["widgets"] if "PSI" in w["properties"]["title"]]
    assert 'MetricName="PSI"' in psi["properties"]["metrics"][0][0]["expression"]
    assert "feature" in psi["properties"]["metrics"][0][0]["expression"]


def test_iam_auth_is_an_option_that_fronts_the_same_alias_with_sigv4(cfn):
    resources = ("PredictIamApi", "PredictIamStage", "PredictIamPermission", "PredictInvokePolicy")
    assert all(cfn[name]["Condition"] == "UseIamAuth" for name in resources)
    _, default = plan(ROOT, "tabflow-t")  # not created unless PredictIamAuth=true
    assert not set(resources) & set(default.refs)
    body = cfn["PredictIamApi"]["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["sigv4"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    for path, operations in body["paths"].items():
        (operation,) = operations.values()
        expected = [] if path in ("/health", "/openapi.json") else [{"sigv4": []}]
        assert operation["security"] == expected, path
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["uri"]["Fn::Sub"][1]["Alias"] == {"Ref": "PredictFunctionAliaslive"}
    assert set(body["paths"]) == {
        "/v1/datasets/{dataset}/predict",
        "/v1/datasets/{dataset}/model",
        "/health",
        "/openapi.json",
    }
    permission = cfn["PredictIamPermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "PredictFunctionAliaslive"}
    assert "${PredictIamApi}/*" in permission["SourceArn"]["Fn::Sub"]
    statement = cfn["PredictInvokePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Action"] for s in statement] == ["execute-api:Invoke"]
