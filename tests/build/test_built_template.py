"""The template sam build writes (what sam package/deploy send on): the buckets' shared blocks,
written once in template.yaml with YAML anchors and aliases, come out flattened, identical on
every bucket. Skipped when there is no build (.ci/run builds first)."""

import pytest
import yaml

from bench.functions import BUILD
from tests.conftest import ROOT

BUILT = BUILD / "template.yaml"

pytestmark = pytest.mark.skipif(not BUILT.exists(), reason="run `make build` first")


def _resources(path):
    from offline_aws.template import load_template

    return load_template(path)["Resources"]


def test_the_source_shares_the_bucket_blocks_by_alias():
    text = (ROOT / "template.yaml").read_text()
    assert text.count("*bucket_encryption") == 2 and text.count("*deny_insecure_transport") == 2


def test_the_built_template_has_no_yaml_alias_left():
    # CloudFormation refuses anchors and aliases (merge keys are aliases too)
    events = list(yaml.parse(BUILT.read_text()))
    assert not [e for e in events if isinstance(e, yaml.AliasEvent)]
    assert not [e for e in events if getattr(e, "anchor", None)]


def test_the_source_is_not_flat():  # the check above can fail: the source has both
    events = list(yaml.parse((ROOT / "template.yaml").read_text()))
    assert any(isinstance(e, yaml.AliasEvent) for e in events)


def test_every_built_bucket_carries_the_same_blocks_and_policy():
    built = _resources(BUILT)
    buckets = {k: v["Properties"] for k, v in built.items() if v["Type"] == "AWS::S3::Bucket"}
    assert set(buckets) == {"RawBucket", "LakeBucket", "ModelBucket"}
    for block in ("BucketEncryption", "PublicAccessBlockConfiguration", "OwnershipControls"):
        assert len({repr(props[block]) for props in buckets.values()}) == 1, block
    statements = {
        v["Properties"]["Bucket"]["Ref"]: v["Properties"]["PolicyDocument"]["Statement"]
        for v in built.values()
        if v["Type"] == "AWS::S3::BucketPolicy"
    }
    assert set(statements) == set(buckets)
    for name, (statement,) in statements.items():
        assert statement["Effect"] == "Deny" and statement["Action"] == "s3:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert statement["Resource"][1] == {
            "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{{name}}}/*"
        }
