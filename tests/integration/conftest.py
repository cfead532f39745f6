"""Handlers run in-process against moto, with every resource created from template.yaml
(the same deploy code the offline stack uses) and each function's template environment."""

import copy
import importlib.util
import json
import uuid
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from offline_aws.deploy import Deployment, deploy
from tabflow.adapters.clients import client as cached_client
from tests.conftest import EVENTS, ROOT, Context  # noqa: F401 - Context: the tests import it here


def _deployed(parameters: dict[str, str] | None = None):
    with mock_aws():
        cached_client.cache_clear()
        dep = deploy(
            ROOT, "tabflow-it", lambda s: boto3.client(s, region_name="us-east-1"), parameters
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        for path in sorted((ROOT / "datasets").glob("*.yaml")):
            s3.put_object(
                Bucket=dep.ref("RawBucket"), Key=f"contracts/{path.name}", Body=path.read_bytes()
            )
        yield dep
        cached_client.cache_clear()


@pytest.fixture
def aws() -> Deployment:
    yield from _deployed()


@pytest.fixture
def aws_batch() -> Deployment:
    """The stack with TrainingEngine=batch: Batch queue, job definition and roles exist."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        yield from _deployed(
            {
                "TrainingEngine": "batch",
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tabflow:1",
                "TrainingSubnets": subnet,
                "TrainingSecurityGroups": group,
            }
        )


@pytest.fixture
def load_handler(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Import functions/<name>/app.py as Lambda would: with the function's environment (in
    the stack the test asked for: aws, or aws_batch)."""
    aws = request.getfixturevalue("aws_batch" if "aws_batch" in request.fixturenames else "aws")

    def load(logical_id: str) -> ModuleType:
        spec = aws.function_by_logical(logical_id)
        for key, value in spec.environment.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", spec.name)
        module_spec = importlib.util.spec_from_file_location(
            f"handler_{logical_id}_{uuid.uuid4().hex}", spec.code_dir / "app.py"
        )
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module

    return load


def event(name: str, **replace: str) -> dict:
    text = (EVENTS / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return json.loads(text)


def s3_put_event(bucket: str, key: str, size: int, etag: str) -> dict:
    doc = copy.deepcopy(event("s3_put.json"))
    obj = doc["Records"][0]["s3"]
    obj["bucket"]["name"] = bucket
    obj["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj["object"].update(key=key, size=size, eTag=etag)
    return doc


def api_event(
    method: str, path: str, resource: str, path_params: dict | None, body: str | None
) -> dict:
    doc = copy.deepcopy(event("api_predict.json"))
    doc.update(
        httpMethod=method,
        path=path,
        resource=resource,
        pathParameters=path_params,
        body=body,
        isBase64Encoded=False,
    )
    doc["requestContext"].update(httpMethod=method, resourcePath=resource, path=f"/prod{path}")
    return doc
