"""The built artifacts (make build = sam build): sizes within Lambda's limit, and the ingest
function importing and working with nothing but its own code, its layers and the runtime's
boto3. Skipped when there is no build (.ci/run builds first)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUILD = ROOT / ".aws-sam" / "build"
LIMIT_MB = 250
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

pytestmark = pytest.mark.skipif(
    not (BUILD / "template.yaml").exists(), reason="run `make build` first"
)


def _size_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 2**20


def _functions() -> list[str]:
    from offline_aws.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]
    return [name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"]


def _layers_of(function: str) -> list[str]:
    from offline_aws.template import load_template

    props = load_template(ROOT / "template.yaml")["Resources"][function]["Properties"]
    return [ref["Ref"] for ref in props.get("Layers", [])]


def deployment_mb(function: str) -> float:
    return _size_mb(BUILD / function) + sum(
        _size_mb(BUILD / layer) for layer in _layers_of(function)
    )


def test_the_ingest_function_fits_in_lambda():
    assert deployment_mb("IngestFunction") < LIMIT_MB


def test_the_built_ingest_function_works_with_only_its_layers(tmp_path):
    runtime = tmp_path / "runtime"  # what the Lambda runtime provides: boto3 and its dependencies
    runtime.mkdir()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (runtime / name).symlink_to(site / name)
    paths = (
        [BUILD / "IngestFunction"]
        + [BUILD / layer / "python" for layer in _layers_of("IngestFunction")]
        + [runtime]
    )
    script = f"""
import sys
sys.path[:0] = {[str(p) for p in paths]!r}
import app
from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.validation import validate
contract = parse_contract(open({str(ROOT / "datasets" / "telco_churn.yaml")!r}).read())
result = validate(read_table(open({str(ROOT / "datasets" / "telco_churn.csv")!r}, 'rb').read(), name='t.csv'),
                  contract, file='t.csv')
import awswrangler, pandas, pyarrow
print(result.counts['curated'], pandas.__file__)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(
        RAW_BUCKET="r",
        LAKE_BUCKET="l",
        MODEL_BUCKET="m",
        REGISTRY_TABLE="t",
        STATE_MACHINE_ARN="arn",
        IDEMPOTENCY_TABLE="i",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    curated, pandas_file = proc.stdout.split()
    assert curated == "7043" and str(BUILD) in pandas_file


def test_sizes_are_reported():
    sizes = {name: round(deployment_mb(name), 1) for name in _functions()}
    print(json.dumps(sizes))
    assert all(v > 0 for v in sizes.values())
