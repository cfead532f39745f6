"""The offline AWS patches moto's internals (infra/local/offline_aws/moto_patches.py); moto is
pinned to a minor version for that. When an upgrade moves or reshapes a patched attribute,
this fails and names the patch."""

import moto.awslambda.models
import moto.ses.models

from offline_aws import moto_patches


def test_every_patched_moto_internal_is_where_the_patch_expects_it():
    assert moto_patches.check() == []


def test_a_moved_internal_is_named_by_its_patch(monkeypatch):
    monkeypatch.delattr(moto.awslambda.models.LambdaFunction, "_invoke_lambda")
    problems = moto_patches.check()
    assert len(problems) == 1 and "'lambda-invoke'" in problems[0] and "is gone" in problems[0]


def test_a_changed_signature_is_named_by_its_patch(monkeypatch):
    def send_raw_email(self, source, destinations, raw_data, extra):  # a new parameter
        return None

    monkeypatch.setattr(moto.ses.models.SESBackend, "send_raw_email", send_raw_email)
    problems = moto_patches.check()
    assert len(problems) == 1 and "'ses-outbox'" in problems[0] and "'extra'" in problems[0]


def test_s3_events_carry_the_version_id_of_a_versioned_bucket_as_on_aws():
    from urllib.parse import unquote_plus

    import boto3
    import moto.s3.notifications
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    original = getattr(
        moto.s3.notifications._get_s3_event, "__wrapped__", moto.s3.notifications._get_s3_event
    )
    build = moto_patches.with_version_id(original)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for name, versioned in (("versioned", True), ("plain", False)):
            s3.create_bucket(Bucket=name)
            if versioned:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            put = s3.put_object(Bucket=name, Key="incoming/a b.csv", Body=b"x")
            bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(name)
            key = bucket.keys.get("incoming/a b.csv")
            obj = build("s3:ObjectCreated:Put", bucket, key, "n")["Records"][0]["s3"]["object"]
            assert unquote_plus(obj["key"]) == "incoming/a b.csv" and obj["eTag"] == put[
                "ETag"
            ].strip('"')
            assert obj.get("versionId") == (put["VersionId"] if versioned else None)
