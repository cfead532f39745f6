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
