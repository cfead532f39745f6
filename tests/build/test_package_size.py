"""The built artifacts (make build = sam build): sizes within Lambda's limit, and the ingest
function importing and working with nothing but its own code, its layers and the runtime's
boto3. Skipped when there is no build (.ci/run builds first)."""

import json
import subprocess
from pathlib import Path

import pytest

from bench.functions import BUILD, isolated_command
from bench.functions import deployment_mb as _deployment_mb
from tests.conftest import ROOT

LIMIT_MB = 250

pytestmark = pytest.mark.skipif(
    not (BUILD / "template.yaml").exists(), reason="run `make build` first"
)


def _functions() -> list[str]:
    from offline_aws.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]
    return [name for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"]


def _layers_of(function: str) -> list[str]:
    from offline_aws.template import load_template

    props = load_template(ROOT / "template.yaml")["Resources"][function]["Properties"]
    return [ref["Ref"] for ref in props.get("Layers", [])]


def deployment_mb(function: str) -> float:
    return _deployment_mb(function, _layers_of(function))


@pytest.mark.parametrize("function", _functions())
def test_every_function_fits_in_lambda(function):
    assert deployment_mb(function) < LIMIT_MB


def run_isolated(function: str, script: str, tmp_path: Path) -> str:
    """Run ``script`` with nothing importable but the built function, its layers and what the
    Lambda runtime provides (boto3 and its dependencies): a missing package fails here."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    argv, env = isolated_command(function, _layers_of(function), script, runtime)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


CONTRACT = str(ROOT / "datasets" / "telco_churn.yaml")
DATA = str(ROOT / "datasets" / "telco_churn.csv")


def test_the_built_ingest_function_works_with_only_its_layers(tmp_path):
    out = run_isolated(
        "IngestFunction",
        f"""
import app, awswrangler, pandas
from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.validation import validate
result = validate(read_table(open({DATA!r}, 'rb').read(), name='t.csv'), parse_contract(open({CONTRACT!r}).read()),
                  file='t.csv')
print(result.counts['curated'], pandas.__file__)
""",
        tmp_path,
    )
    curated, pandas_file = out.split()
    assert curated == "7043" and str(BUILD) in pandas_file


def test_the_built_train_function_trains_with_only_its_layers(tmp_path):
    out = run_isolated(
        "TrainFunction",
        f"""
import app, numpy as np
from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.validation import validate
from tabflow.training import build_feature_spec, frame_columns, stratified_split, target_vector
from tabflow.models.lightgbm import fit_lightgbm
from tabflow.models.linear import fit_linear
from tabflow.evaluation.metrics import binary_metrics
contract = parse_contract(open({CONTRACT!r}).read())
frame = validate(read_table(open({DATA!r}, 'rb').read(), name='t.csv'), contract, file='t.csv').curated
spec = build_feature_spec(contract, frame)
x, y = spec.matrix(frame_columns(spec, frame)), target_vector(spec, frame)
train, test = stratified_split(y, 0.2, 0)
fit, valid = stratified_split(y[train], 0.15, 1)
model, _ = fit_lightgbm(x, y, spec, seed=0, fit_idx=train[fit], valid_idx=train[valid], class_weight='none')
linear = fit_linear(x[train], y[train], spec)
import lightgbm
booster = lightgbm.Booster(model_str=model.model_text)
gomp = [line.split()[-1] for line in open('/proc/self/maps') if 'libgomp' in line][0]
print(binary_metrics(y[test], booster.predict(x[test]), threshold=0.5)['auc'],
      binary_metrics(y[test], linear.predict(x[test]), threshold=0.5)['auc'], gomp)
""",
        tmp_path,
    )
    lgbm_auc, linear_auc, gomp = out.strip().splitlines()[-1].split()
    assert float(lgbm_auc) > 0.8 and float(linear_auc) > 0.8
    # LightGBM runs on the layer's portable libgomp, not the build machine's
    assert gomp == str(BUILD / "ScienceLayer" / "lib" / "libgomp.so.1")


def test_the_training_job_runs_with_only_the_train_layers(tmp_path):
    """The scale path's container (infra/batch/Dockerfile) installs what the Train function's
    layers hold; `python -m tabflow.container_jobs` must need nothing more."""
    out = run_isolated(
        "TrainFunction",
        f"""
import json
from tabflow import container_jobs as jobs
from tabflow.workflow.prepare import prepare
from tabflow.adapters.memory import MemoryStore, MemoryTables
from tabflow.contract import parse_contract
from tabflow.readers import read_table
from tabflow.settings import Settings
from tabflow.validation import validate
store = MemoryStore(); tables = MemoryTables(store)
text = open({CONTRACT!r}).read()
store.put('s3://raw/contracts/telco_churn.yaml', text.encode())
frame = validate(read_table(open({DATA!r}, 'rb').read(), name='t.csv'), parse_contract(text), file='t.csv').curated
tables.write_parquet(frame, 's3://lake/curated/telco_churn/t.parquet')
state = dict(dataset='telco_churn', run_id='r1', curated_uri='s3://lake/curated/telco_churn/t.parquet',
             contract_uri='s3://raw/contracts/telco_churn.yaml')
prepared = prepare(state, store=store, tables=tables, lake_bucket='lake', engine='batch')
state['prepare'] = prepared.dump()
settings = Settings(raw_bucket='raw', lake_bucket='lake', model_bucket='models', registry_table='t')
trial = jobs.run('trial', dict(state, trial=prepared.trials[0].dump(), split_uri=prepared.split_uri),
                 store=store, tables=tables, settings=settings)
state['trials'] = [trial.dump()]
model = jobs.run('train', dict(candidate='lightgbm', run=state), store=store, tables=tables, settings=settings)
print(prepared.engine, trial.score, model.validation['auc'], jobs.main([]))
""",
        tmp_path,
    )
    engine, cv_score, auc, usage = out.strip().splitlines()[-1].split()  # after the logs
    # PR-AUC across folds (Telco churn is 27% positive), AUC on the validation rows
    assert engine == "batch" and float(cv_score) > 0.5 and float(auc) > 0.8 and usage == "2"


def test_the_built_predict_function_imports_without_pandas(tmp_path):
    out = run_isolated(
        "PredictFunction",
        """
import app, sys, lightgbm
gomp = [line.split()[-1] for line in open('/proc/self/maps') if 'libgomp' in line][0]
print('pandas' in sys.modules, 'sklearn' in sys.modules, gomp)
""",
        tmp_path,
    )
    pandas, sklearn, gomp = out.strip().splitlines()[-1].split()  # after any logs
    assert pandas == sklearn == "False"
    assert gomp == str(BUILD / "PredictLayer" / "lib" / "libgomp.so.1")


@pytest.mark.parametrize("function", ["PromoteFunction", "NotifyFunction"])
def test_promote_and_notify_run_on_the_domain_layer_alone(function, tmp_path):
    """They move JSON, files and registry items: no numpy, pandas or pyarrow is shipped with
    them, and their handler module imports without any."""
    assert _layers_of(function) == ["DomainLayer"]
    out = run_isolated(
        function,
        """
import app, sys
print(sorted(m for m in ("numpy", "pandas", "pyarrow") if m in sys.modules) or "none")
""",
        tmp_path,
    )
    assert out.strip().splitlines()[-1] == "none"


def test_sizes_are_reported():
    sizes = {name: round(deployment_mb(name), 1) for name in _functions()}
    print(json.dumps(sizes))
    assert all(v > 0 for v in sizes.values())
