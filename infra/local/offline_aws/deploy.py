"""Create every resource of template.yaml in the offline AWS, with its wiring.

Physical names are computed first (they are deterministic), so resources that refer to each
other (a function's environment naming the state machine, the state machine naming the
functions) resolve without a dependency graph. Resource types that have no local meaning
(dashboards, alarms, deployment preferences) are listed as skipped, never silently ignored."""

import contextlib
import io
import json
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline_aws.runtime import FunctionSpec
from offline_aws.template import (
    ACCOUNT,
    REGION,
    Resolver,
    evaluate_conditions,
    load_template,
    pseudo_parameters,
)


def _trust(service: str) -> dict[str, Any]:
    """The role trust policy that lets an AWS service assume a role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


LOCAL_ONLY_SKIPPED = {
    "AWS::CloudWatch::Dashboard",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApiGateway::ApiKey",
    "AWS::Logs::LogGroup",
    "AWS::Serverless::LayerVersion",
    # PredictIamAuth=true: the SigV4 API (the local gateway serves the key API only)
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::Lambda::Permission",
    "AWS::IAM::ManagedPolicy",
}


# Batch resource type -> (ARN resource kind, name property); Ref gives the ARN.
BATCH_ARN_KINDS = {
    "AWS::Batch::ComputeEnvironment": ("compute-environment", "ComputeEnvironmentName"),
    "AWS::Batch::JobQueue": ("job-queue", "JobQueueName"),
    "AWS::Batch::JobDefinition": ("job-definition", "JobDefinitionName"),
}


@dataclass
class Route:
    method: str
    path: str  # template path, e.g. /v1/datasets/{dataset}/predict
    function: str  # physical function name
    api: str  # logical id of the Api
    api_key_required: bool = False


@dataclass
class Schedule:
    function: str
    expression: str
    rule: str
    payload: dict[str, Any] | None = None


@dataclass
class Deployment:
    stack_name: str
    resolver: Resolver
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # by physical name
    routes: list[Route] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # api logical id -> stage
    outputs: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def ref(self, logical: str) -> str:
        return self.resolver.refs[logical]

    def function_by_logical(self, logical: str) -> FunctionSpec:
        for spec in self.functions.values():
            if spec.logical_id == logical:
                return spec
        raise KeyError(logical)


def _policy_processor() -> Any:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def plan(
    root: Path, stack_name: str, overrides: dict[str, str] | None = None
) -> tuple[dict, Resolver]:
    """Load the template and compute every physical name and attribute."""
    tpl = load_template(root / "template.yaml")
    declared = tpl.get("Parameters", {})
    params: dict[str, Any] = {name: str(p.get("Default", "")) for name, p in declared.items()}
    params.update(overrides or {})
    for name, p in declared.items():
        if p["Type"] == "CommaDelimitedList":
            params[name] = [v.strip() for v in params[name].split(",") if v.strip()]
    params.update(pseudo_parameters(stack_name))
    r = Resolver(params)
    r.conditions = evaluate_conditions(tpl, params)
    # Resources whose Condition is false do not exist (as in CloudFormation).
    tpl["Resources"] = {
        logical: res
        for logical, res in tpl["Resources"].items()
        if "Condition" not in res or r.conditions[res["Condition"]]
    }
    resources = tpl["Resources"]
    # Names may refer to parameters only, so resolve them in one pass.
    for logical, res in resources.items():
        t, props = res["Type"], res.get("Properties", {})
        if t == "AWS::S3::Bucket":
            name = r.resolve(props.get("BucketName", f"{stack_name}-{logical}".lower()))
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:s3:::{name}"
        elif t == "AWS::DynamoDB::Table":
            name = r.resolve(props.get("TableName", f"{stack_name}-{logical}"))
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        elif t == "AWS::Serverless::Function":
            name = r.resolve(props.get("FunctionName", f"{stack_name}-{logical}"))[:64]
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        elif t == "AWS::Serverless::StateMachine":
            name = r.resolve(props.get("Name", f"{stack_name}-{logical}"))
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
            r.refs[logical] = arn
            r.attrs[(logical, "Name")] = name
            r.attrs[(logical, "Arn")] = arn
        elif t == "AWS::Serverless::Api":
            r.refs[logical] = f"local{logical.lower()}"[:10]
        elif t == "AWS::SecretsManager::Secret":
            name = r.resolve(props.get("Name", f"{stack_name}/{logical}"))
            r.refs[logical] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
            r.attrs[(logical, "Name")] = name
        elif t == "AWS::SQS::Queue":
            name = r.resolve(props.get("QueueName", f"{stack_name}-{logical}"))
            r.refs[logical] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            r.attrs[(logical, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
            r.attrs[(logical, "QueueName")] = name
        elif t == "AWS::SES::EmailIdentity":
            r.refs[logical] = r.resolve(props["EmailIdentity"])
        elif t == "AWS::Serverless::LayerVersion":
            r.refs[logical] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"
        elif t == "AWS::IAM::Role":
            name = r.resolve(props.get("RoleName", f"{stack_name}-{logical}"))[:64]
            r.refs[logical] = name
            r.attrs[(logical, "Arn")] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif t in BATCH_ARN_KINDS:
            kind, name_key = BATCH_ARN_KINDS[t]
            name = r.resolve(props.get(name_key, f"{stack_name}-{logical}"))
            revision = ":1" if kind == "job-definition" else ""
            r.refs[logical] = f"arn:aws:batch:{REGION}:{ACCOUNT}:{kind}/{name}{revision}"
            r.attrs[(logical, "Name")] = name
        else:
            r.refs[logical] = f"{stack_name}-{logical}"
    return tpl, r


def deploy(
    root: Path, stack_name: str, clients: Any, overrides: dict[str, str] | None = None
) -> Deployment:
    """Create the resources with boto3 clients (``clients(service)``) against the endpoint."""
    tpl, r = plan(root, stack_name, overrides)
    dep = Deployment(stack_name, r)
    resources = tpl["Resources"]
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    by_type: dict[str, list[str]] = {}
    for logical, res in resources.items():
        by_type.setdefault(res["Type"], []).append(logical)

    s3, ddb, iam = clients("s3"), clients("dynamodb"), clients("iam")
    for logical in by_type.pop("AWS::S3::Bucket", []):
        _bucket(s3, r.refs[logical], r.resolve(resources[logical].get("Properties", {})))
    for logical in by_type.pop("AWS::S3::BucketPolicy", []):
        # Resolved (so a broken policy fails here) but not applied: moto evaluates bucket
        # policies without their Condition blocks, so the TLS-only Deny would deny everything.
        r.resolve(resources[logical]["Properties"])
        dep.skipped.append(f"{logical} (AWS::S3::BucketPolicy: moto ignores Conditions)")
    for logical in by_type.pop("AWS::DynamoDB::Table", []):
        _table(ddb, r.refs[logical], r.resolve(resources[logical]["Properties"]))
    for logical in by_type.pop("AWS::SecretsManager::Secret", []):
        props = r.resolve(resources[logical]["Properties"])
        generate = props.get("GenerateSecretString")
        value = props.get("SecretString") or secrets.token_urlsafe(
            int((generate or {}).get("PasswordLength", 32))
        )
        clients("secretsmanager").create_secret(Name=r.attrs[(logical, "Name")], SecretString=value)
    for logical in by_type.pop("AWS::SQS::Queue", []):
        clients("sqs").create_queue(QueueName=r.attrs[(logical, "QueueName")])
    for logical in by_type.pop("AWS::SES::EmailIdentity", []):
        clients("ses").verify_email_identity(EmailAddress=r.refs[logical])
    for logical in by_type.pop("AWS::IAM::Role", []):
        props = r.resolve(resources[logical]["Properties"])
        docs = [p["PolicyDocument"] for p in props.get("Policies", [])]
        _role(iam, r.refs[logical], props["AssumeRolePolicyDocument"], docs)
        for arn in props.get("ManagedPolicyArns", []):  # moto holds no AWS managed policies
            dep.skipped.append(f"{logical} managed policy {arn} (not attached locally)")
    _batch(clients, iam, by_type, resources, r, dep)
    api_keys_default: dict[str, bool] = {}
    for logical in by_type.pop("AWS::Serverless::Api", []):
        props = r.resolve(resources[logical].get("Properties", {}))
        dep.stages[logical] = props.get("StageName", "Prod")
        api_keys_default[logical] = bool((props.get("Auth") or {}).get("ApiKeyRequired"))

    processor = _policy_processor()
    lam = clients("lambda")
    for logical in by_type.pop("AWS::Serverless::Function", []):
        spec = _function(root, logical, resources[logical], globals_fn, r, iam, lam, processor)
        dep.functions[spec.name] = spec
    for logical in by_type.pop("AWS::Serverless::StateMachine", []):
        _state_machine(
            root, logical, resources[logical], r, iam, clients("stepfunctions"), processor
        )

    # Event sources, once every function exists.
    notifications: dict[str, list[dict[str, Any]]] = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        fn_name = r.refs[logical]
        for ev_name, ev in (res["Properties"].get("Events") or {}).items():
            props = r.resolve(ev.get("Properties", {}))
            if ev["Type"] == "S3":
                events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
                conf: dict[str, Any] = {
                    "Id": f"{logical}{ev_name}",
                    "Events": events,
                    "LambdaFunctionArn": r.attrs[(logical, "Arn")],
                }
                rules = (props.get("Filter") or {}).get("S3Key", {}).get("Rules")
                if rules:
                    conf["Filter"] = {"Key": {"FilterRules": rules}}
                notifications.setdefault(props["Bucket"], []).append(conf)
            elif ev["Type"] == "Api":
                api = (ev["Properties"].get("RestApiId") or {}).get("Ref", "ServerlessRestApi")
                auth = props.get("Auth") or {}
                key_required = auth.get("ApiKeyRequired", api_keys_default.get(api, False))
                dep.routes.append(
                    Route(props["Method"].upper(), props["Path"], fn_name, api, bool(key_required))
                )

                dep.stages.setdefault(api, "Prod")
            elif ev["Type"] == "Schedule":
                rule = f"{stack_name}-{logical}-{ev_name}"[:64]
                events_client = clients("events")
                events_client.put_rule(
                    Name=rule,
                    ScheduleExpression=props["Schedule"],
                    State="DISABLED" if props.get("Enabled") is False else "ENABLED",
                )
                events_client.put_targets(
                    Rule=rule, Targets=[{"Id": "1", "Arn": r.attrs[(logical, "Arn")]}]
                )
                dep.schedules.append(Schedule(fn_name, props["Schedule"], rule, props.get("Input")))
            else:
                dep.skipped.append(f"{logical}.Events.{ev_name} ({ev['Type']})")
    for bucket, confs in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": confs}
        )

    for t, logicals in by_type.items():
        if t not in LOCAL_ONLY_SKIPPED:
            raise NotImplementedError(f"the offline AWS cannot create {t} ({', '.join(logicals)})")
        dep.skipped.extend(f"{lg} ({t})" for lg in logicals)
    for name, out in (tpl.get("Outputs") or {}).items():
        if "Condition" in out and not r.conditions[out["Condition"]]:
            continue
        with contextlib.suppress(KeyError):
            dep.outputs[name] = str(r.resolve(out["Value"]))
    return dep


def _camel(value: Any) -> Any:
    """CloudFormation property names (PascalCase) -> API parameter names (camelCase)."""
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    return value


def _batch(
    clients: Any,
    iam: Any,
    by_type: dict[str, list[str]],
    resources: dict[str, Any],
    r: Resolver,
    dep: Deployment,
) -> None:
    """The scale path's Batch compute environment, queue and job definition. Jobs submitted
    to the queue run as local processes (stack.py), as Lambda invocations do."""
    batch = clients("batch")
    for logical in by_type.pop("AWS::Batch::ComputeEnvironment", []):
        props = r.resolve(resources[logical]["Properties"])
        # On AWS an omitted ServiceRole means Batch's service-linked role; moto insists on one.
        service_role = props.get("ServiceRole") or _role(
            iam, f"{dep.stack_name}-batch-service", _trust("batch"), []
        )
        batch.create_compute_environment(
            computeEnvironmentName=r.attrs[(logical, "Name")],
            type=props["Type"],
            state=props.get("State", "ENABLED"),
            computeResources=_camel(props["ComputeResources"]),
            serviceRole=service_role,
        )
    for logical in by_type.pop("AWS::Batch::JobQueue", []):
        props = r.resolve(resources[logical]["Properties"])
        batch.create_job_queue(
            jobQueueName=r.attrs[(logical, "Name")],
            state=props.get("State", "ENABLED"),
            priority=int(props["Priority"]),
            computeEnvironmentOrder=[
                {"order": int(o["Order"]), "computeEnvironment": o["ComputeEnvironment"]}
                for o in props["ComputeEnvironmentOrder"]
            ],
        )
    for logical in by_type.pop("AWS::Batch::JobDefinition", []):
        props = r.resolve(resources[logical]["Properties"])
        arn = batch.register_job_definition(
            jobDefinitionName=r.attrs[(logical, "Name")],
            type=props["Type"],
            platformCapabilities=props.get("PlatformCapabilities", ["EC2"]),
            containerProperties=_camel(props["ContainerProperties"]),
            retryStrategy=_camel(props.get("RetryStrategy", {})),
            timeout=_camel(props.get("Timeout", {})),
            propagateTags=bool(props.get("PropagateTags", False)),
        )["jobDefinitionArn"]
        if arn != r.refs[logical]:
            raise RuntimeError(f"{logical}: planned {r.refs[logical]}, got {arn}")


def _bucket(s3: Any, name: str, props: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": rule["BucketKeyEnabled"]}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _table(ddb: Any, name: str, props: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    ddb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "Enabled": bool(ttl.get("Enabled")),
                "AttributeName": ttl["AttributeName"],
            },
        )


def _policies(policies: Any, r: Resolver, processor: Any) -> list[dict[str, Any]]:
    """SAM Policies (policy templates, inline statements, managed names) -> policy documents."""
    docs = []
    # Resolved once, whole: a Fn::If whose branch is AWS::NoValue drops its item here.
    for item in r.resolve(policies if isinstance(policies, list) else [policies]):
        if isinstance(item, str):
            continue  # a managed policy name: nothing to create
        if "Statement" in item:
            docs.append({"Version": "2012-10-17", "Statement": item["Statement"]})
            continue
        ((template_name, params),) = item.items()
        converted = processor.convert(template_name, params or {})
        docs.append({"Version": "2012-10-17", "Statement": r.resolve(converted["Statement"])})
    return docs


def _role(iam: Any, name: str, trust: dict[str, Any], docs: list[dict[str, Any]]) -> str:
    arn = iam.create_role(RoleName=name[:64], AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    for i, doc in enumerate(docs):
        iam.put_role_policy(
            RoleName=name[:64], PolicyName=f"policy{i}", PolicyDocument=json.dumps(doc)
        )
    return arn


def _function(
    root: Path,
    logical: str,
    res: dict[str, Any],
    globals_fn: dict[str, Any],
    r: Resolver,
    iam: Any,
    lam: Any,
    processor: Any,
) -> FunctionSpec:
    props = {**globals_fn, **res["Properties"]}
    env = dict(r.resolve((globals_fn.get("Environment") or {}).get("Variables", {})))
    env.update(r.resolve((res["Properties"].get("Environment") or {}).get("Variables", {})))
    env = {k: str(v) for k, v in env.items()}
    name = r.refs[logical]
    code_dir = (root / props["CodeUri"]).resolve()
    role = _role(
        iam, f"{name}-role", _trust("lambda"), _policies(props.get("Policies", []), r, processor)
    )
    lam.create_function(
        FunctionName=name,
        Runtime=props.get("Runtime", "python3.12"),
        Role=role,
        Handler=props["Handler"],
        Code={"ZipFile": _zip_dir(code_dir)},
        Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)),
        Environment={"Variables": env},
        Description=str(props.get("Description", ""))[:256],
    )
    dead_letter = r.resolve(props.get("DeadLetterQueue") or {})
    invoke_config = r.resolve(props.get("EventInvokeConfig") or {})
    on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
    return FunctionSpec(
        name=name,
        logical_id=logical,
        code_dir=code_dir,
        handler=props["Handler"],
        environment=env,
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        arn=r.attrs[(logical, "Arn")],
        max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", 2)),
        dead_letter_arn=str(dead_letter.get("TargetArn", "")),
        on_failure_arn=str(on_failure.get("Destination", "")),
    )


def _state_machine(
    root: Path, logical: str, res: dict[str, Any], r: Resolver, iam: Any, sfn: Any, processor: Any
) -> None:
    props = res["Properties"]
    definition = (root / props["DefinitionUri"]).read_text()
    for key, value in r.resolve(props.get("DefinitionSubstitutions", {})).items():
        definition = definition.replace("${" + key + "}", str(value))
    json.loads(definition)  # fail here, clearly, if a substitution broke the JSON
    name = r.attrs[(logical, "Name")]
    role = _role(
        iam, f"{name}-role", _trust("states"), _policies(props.get("Policies", []), r, processor)
    )
    sfn.create_state_machine(name=name, definition=definition, roleArn=role)


def _zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                zf.write(f, f.relative_to(path))
    return buf.getvalue()
