"""template.yaml as CloudFormation sees it: the SAM transform, offline (no AWS calls).

Used by the policy scan (make scan: checkov) and the template tests."""

import json
import os
from pathlib import Path
from typing import Any

from offline_aws.template import load_template


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def transformed(root: Path, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """``parameters`` become the parameters' defaults, so tools that evaluate Conditions with
    the defaults (checkov) see the optional resources (TrainingEngine=batch, ...)."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the transform needs a region
    tpl = json.loads(json.dumps(load_template(root / "template.yaml")))
    for name, value in (parameters or {}).items():
        tpl["Parameters"][name]["Default"] = value
    for res in tpl["Resources"].values():  # sam package would upload these; any S3 URI will do
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in props:
                props[key] = f"s3://artifacts/{key}"
    return transform(tpl, {}, _NoManagedPolicies())
