"""`make bench-functions`: each built function's deployment size and cold import.

For every function of the built template (make build): the unzipped size of its code plus its
layers (Lambda's limit is 250 MB), and the time a fresh interpreter takes to import its handler
module with nothing importable but the function, its layers and what the Lambda runtime
provides (boto3). Best of three processes. Results go to bench/functions.json.
`--build DIR` measures another build (e.g. a copy kept from before a change), so two builds
can be compared in the same run on the same machine."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
ENV = {
    "RAW_BUCKET": "r",
    "LAKE_BUCKET": "l",
    "MODEL_BUCKET": "m",
    "REGISTRY_TABLE": "t",
    "STATE_MACHINE_ARN": "arn",
    "IDEMPOTENCY_TABLE": "i",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def _size_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 2**20


def functions() -> dict[str, list[str]]:
    """Function name -> the layer resources it uses, from the built template."""
    from offline_aws.template import load_template

    resources = load_template(BUILD / "template.yaml")["Resources"]
    return {
        name: [ref["Ref"] for ref in res["Properties"].get("Layers", []) if "Ref" in ref]
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def deployment_mb(function: str, layers: list[str]) -> float:
    return _size_mb(BUILD / function) + sum(_size_mb(BUILD / layer) for layer in layers)


def isolated_command(function: str, layers: list[str], script: str, runtime: Path):
    """argv and environment running ``script`` with only the function, its layers and the
    runtime's boto3 importable, LD_LIBRARY_PATH on the layers' lib/ (as Lambda's /opt/lib)."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in RUNTIME_PACKAGES:
        if (site / name).exists() and not (runtime / name).exists():
            (runtime / name).symlink_to(site / name)
    paths = [BUILD / function] + [BUILD / layer / "python" for layer in layers] + [runtime]
    prelude = f"import sys\nsys.path[:0] = {[str(p) for p in paths]!r}\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | ENV
    env["LD_LIBRARY_PATH"] = ":".join(
        str(BUILD / layer / "lib") for layer in layers if (BUILD / layer / "lib").is_dir()
    )
    # Set by Lambda (/var/task there). Without it the X-Ray SDK, imported by Powertools'
    # Tracer, builds a botocore X-Ray client for its sampler at import: 0.4 s a Lambda never pays.
    env["LAMBDA_TASK_ROOT"] = str(BUILD / function)
    return [sys.executable, "-I", "-S", "-c", prelude + script], env


def import_seconds(function: str, layers: list[str], runtime: Path, repeat: int = 3) -> float:
    script = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    argv, env = isolated_command(function, layers, script, runtime)
    best = float("inf")
    for _ in range(repeat):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{function}: {proc.stderr.strip().splitlines()[-1]}")
        best = min(best, float(proc.stdout.strip().splitlines()[-1]))
    return best


def main() -> int:
    global BUILD
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, default=BUILD)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "functions.json")
    args = parser.parse_args()
    BUILD = args.build.resolve()
    if not (BUILD / "template.yaml").exists():
        print("run `make build` first: sizes and imports are measured on the built artifacts")
        return 2
    runtime = Path(tempfile.mkdtemp())
    started = time.monotonic()
    out = {}
    for name, layers in functions().items():
        out[name] = {
            "deployment_mb": round(deployment_mb(name, layers), 1),
            "import_s": round(import_seconds(name, layers, runtime), 3),
            "layers": layers,
        }
        print(f"{name:24s} {out[name]['deployment_mb']:7.1f} MB  {out[name]['import_s']:.3f} s")
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
