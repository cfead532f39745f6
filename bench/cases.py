"""The benchmark cases. Each returns {"name", "value", "unit", "floor", "ratio", ...}."""

import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _telco_csv(rows: int) -> bytes:
    """The Telco file repeated to ``rows`` rows with fresh customer ids."""
    import pandas as pd

    base = pd.read_csv(ROOT / "datasets" / "telco_churn.csv", dtype=str, keep_default_na=False)
    reps = -(-rows // len(base))
    big = pd.concat([base] * reps, ignore_index=True).iloc[:rows]
    big["customer_id"] = [f"C{i:08d}" for i in range(rows)]
    return big.to_csv(index=False).encode()


def ingest_1m_rows() -> dict:
    """The ingest path (read, type against the contract, quarantine, Parquet) on 1M Telco-like
    rows, against a plain pyarrow read + Parquet write of the same file."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from tabflow.contract import parse_contract
    from tabflow.readers import read_table
    from tabflow.validation import validate

    data = _telco_csv(1_000_000)
    contract = parse_contract((ROOT / "datasets" / "telco_churn.yaml").read_text())

    def floor() -> None:
        table = pacsv.read_csv(io.BytesIO(data))
        pq.write_table(table, io.BytesIO())

    def ingest() -> dict:
        raw = read_table(data, name="big.csv")
        result = validate(raw, contract, file="big.csv")
        result.curated.to_parquet(io.BytesIO(), index=False)
        return result.counts

    floor_s = _best(floor)
    value_s = _best(ingest, repeat=2)
    counts = ingest()
    return {
        "name": "ingest_1m_rows",
        "value": round(value_s, 2),
        "unit": "s",
        "floor": round(floor_s, 2),
        "ratio": round(value_s / floor_s, 2),
        "rows": counts["rows_in"],
        "file_mb": round(len(data) / 2**20, 1),
    }


def ingest_gz_bomb() -> dict:
    """The ingest use case on a gzip bomb of valid Telco rows (all duplicates, the costliest
    content) that would expand to 2 GiB: refused at the default MaxDecompressedBytes. The
    figure is the time to refuse it; peak_rss_mb is the process's peak (the bound at work)."""
    import zlib

    from tabflow.adapters.memory import MemoryMailer, MemoryStore, MemoryTables, MemoryWorkflow
    from tabflow.ingestion import IngestConfig, ingest_object
    from tabflow.limits import DEFAULT_MAX_BYTES

    header, row = (ROOT / "datasets" / "telco_churn.csv").read_bytes().split(b"\n")[:2]
    chunk = (row + b"\n") * (2**20 // (len(row) + 1))
    # One gzip member: after a full flush the compressed chunk is the same every time, so it
    # is made once and repeated 2,048 times (the trailer's CRC is not needed: nothing
    # reaches it). The file is 7 MB; gzip -d would write 2 GiB.
    pack = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = pack.compress(header + b"\n") + pack.flush(zlib.Z_FULL_FLUSH)
    block = pack.compress(chunk) + pack.flush(zlib.Z_FULL_FLUSH)
    data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start + block * 2048 + pack.flush()
    data += bytes(8)
    store = MemoryStore()
    store.put(
        "s3://raw/contracts/telco_churn.yaml",
        (ROOT / "datasets" / "telco_churn.yaml").read_bytes(),
    )
    key = "incoming/telco_churn/bomb.csv.gz"
    store.put(f"s3://raw/{key}", data)
    started = time.perf_counter()
    outcome = ingest_object(
        key=key,
        etag="e",
        size=len(data),
        config=IngestConfig("raw", "lake", ["a@example.com"], 1 << 31),
        store=store,
        tables=MemoryTables(store),
        workflow=MemoryWorkflow(),
        mailer=MemoryMailer(),
    )
    seconds = time.perf_counter() - started
    assert outcome.status == "rejected" and "MaxDecompressedBytes" in outcome.problems[0]
    return {
        "name": "ingest_gz_bomb",
        "value": round(seconds, 2),
        "unit": "s",
        "gz_kb": round(len(data) / 1024),
        "would_expand_mb": 2048,
        "limit_mb": DEFAULT_MAX_BYTES >> 20,
    }


def ingest_all_invalid() -> dict:
    """Peak RSS of the ingest use case on a 32 MB CSV whose every field is wrong (the most
    quarantine per input byte), against a valid Telco file of the same size; each in a fresh
    process (bench/ingest_memory.py). Goal: ratio <= 2 (it was 15.7: 8.4 GB)."""
    from bench.ingest_memory import measure

    size_mb = 32
    valid = measure("valid", size_mb)
    invalid = measure("garbage", size_mb)
    for figure in (valid, invalid):
        if "error" in figure:
            raise RuntimeError(f"{figure['kind']}: {figure['error']}")
    assert invalid["counts"]["quarantined"] == invalid["counts"]["rows_in"]
    return {
        "name": "ingest_all_invalid",
        "value": invalid["peak_rss_mb"],
        "unit": "MB",
        "floor": valid["peak_rss_mb"],
        "ratio": round(invalid["peak_rss_mb"] / valid["peak_rss_mb"], 2),
        "file_mb": size_mb,
        "rows": invalid["counts"]["rows_in"],
        "quarantine_mb": invalid["written_mb"].get("rejected_rows.parquet"),
        "peak_rss_mb": invalid["peak_rss_mb"],
    }


CASES: dict[str, Callable[[], dict]] = {
    "ingest_1m_rows": ingest_1m_rows,
    "ingest_gz_bomb": ingest_gz_bomb,
    "ingest_all_invalid": ingest_all_invalid,
}


def drift_1m_rows() -> dict:
    """The monitor's drift check on 1M captured rows x 30 features (20 numeric, 10 categorical),
    against the same statistics computed directly with numpy/scipy."""
    import pyarrow as pa
    from scipy import stats as sps

    from tabflow.contract import Monitoring
    from tabflow.drift import build_reference
    from tabflow.features import Feature, FeatureSpec
    from tabflow.monitoring.captures import drift_check

    rng = np.random.default_rng(0)
    n_ref, n = 200_000, 1_000_000
    cats = tuple("abcdefgh")
    spec = FeatureSpec(
        tuple(
            [Feature(f"x{i}", "numeric") for i in range(20)]
            + [Feature(f"c{i}", "categorical", cats) for i in range(10)]
        ),
        "y",
        "1",
        "0",
    )

    def numeric(size: int, shift: float = 0.0) -> np.ndarray:
        return rng.normal(shift, 1.0, size)

    def categorical(size: int) -> np.ndarray:
        return rng.integers(0, len(cats), size).astype(float)

    ref_x = np.column_stack(
        [numeric(n_ref) for _ in range(20)] + [categorical(n_ref) for _ in range(10)]
    )
    ref_score = rng.random(n_ref)
    reference = build_reference(spec, ref_x, ref_score)
    columns = {f"x{i}": pa.array(numeric(n, 0.3 if i < 3 else 0.0)) for i in range(20)}  # 3 drift
    columns |= {
        f"c{i}": pa.array(np.asarray(cats)[rng.integers(0, len(cats), n)]) for i in range(10)
    }
    columns |= {"_score": pa.array(rng.random(n))}
    table = pa.table(columns)

    def ours() -> object:
        return drift_check(table, spec, reference, _contract(Monitoring()))

    def direct() -> None:  # the same statistics, straight numpy/scipy on the same columns
        for i in range(20):
            col = table.column(f"x{i}").to_numpy()
            sps.ks_2samp(np.asarray(reference.features[i].sample), col, method="asymp")
            np.histogram(
                col, bins=np.concatenate([[-np.inf], reference.features[i].edges, [np.inf]])
            )
        for i in range(10):
            codes = np.searchsorted(
                np.asarray(cats), table.column(f"c{i}").to_numpy(zero_copy_only=False)
            )
            counts = np.bincount(codes, minlength=len(cats))
            sps.chi2_contingency(np.vstack([reference.features[20 + i].counts, counts]))
        sps.ks_2samp(
            np.asarray(reference.score.sample), table.column("_score").to_numpy(), method="asymp"
        )

    floor_s = _best(direct)
    value_s = _best(ours, repeat=2)
    report = ours()
    figure = {
        "name": "drift_1m_rows",
        "value": round(value_s, 2),
        "unit": "s",
        "floor": round(floor_s, 2),
        "ratio": round(value_s / floor_s, 2),
        "rows": n,
        "features": 30,
        "drifted": len(report.drifted),
    }
    # Evidently's DataDriftPreset on the same reference rows and window, in the same run (its
    # own virtualenv, in a subprocess): the time of Report.run and its ratio to ours.
    from bench.evidently_drift import compare

    names = [f.name for f in spec.features]
    other = compare(
        {
            "reference": {
                **{name: ref_x[:, j] for j, name in enumerate(names) if j < 20},
                **{name: ref_x[:, j].astype(np.int8) for j, name in enumerate(names) if j >= 20},
                "score": ref_score,
            },
            "current": {
                **{f"x{i}": table.column(f"x{i}").to_numpy() for i in range(20)},
                **{
                    f"c{i}": np.searchsorted(
                        np.asarray(cats), table.column(f"c{i}").to_numpy(zero_copy_only=False)
                    ).astype(np.int8)
                    for i in range(10)
                },
                "score": table.column("_score").to_numpy(),
            },
            "categories": list(cats),
            "categorical": [f"c{i}" for i in range(10)],
        }
    )
    figure |= other
    if "evidently_s" in other:
        figure["evidently_ratio"] = round(other["evidently_s"] / value_s, 1)  # times faster
    else:
        print(f"drift_1m_rows: Evidently comparison {other['evidently']}", file=sys.stderr)
    return figure


def _contract(monitoring):
    """A minimal contract object carrying the monitoring settings (drift_check reads only those)."""
    from types import SimpleNamespace

    return SimpleNamespace(monitoring=monitoring)


CASES["drift_1m_rows"] = drift_1m_rows


def training_data(n: int) -> tuple[object, dict]:
    """n rows x 40 columns (30 numeric, 9 categorical, a binary target) and their contract."""
    import pandas as pd

    rng = np.random.default_rng(0)
    data = {f"x{i}": rng.normal(size=n) for i in range(30)}
    data |= {f"c{i}": rng.choice(list("abcdefgh"), n) for i in range(9)}
    logit = data["x0"] + 0.5 * data["x1"] - 0.7 * data["x2"] + (data["c0"] == "a") * 1.0 - 1.5
    data["y"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(data)
    columns = {f"x{i}": {"type": "float"} for i in range(30)}
    columns |= {f"c{i}": {"type": "category", "categories": list("abcdefgh")} for i in range(9)}
    columns |= {"y": {"type": "category", "categories": ["yes", "no"]}}
    contract = {
        "dataset": "bench",
        "target": {"column": "y", "positive_label": "yes"},
        "columns": columns,
        "gates": {"min_auc": 0.5},
    }
    return frame, contract


def train_300k_rows() -> dict:
    """The Train task (final candidates: LightGBM with early stopping, the linear baseline,
    calibration, threshold, drift reference) on 300k rows x 40 columns, tuning excluded,
    against a bare lightgbm.train with the same final parameters and rounds on the same rows."""
    import json as _json

    import lightgbm as lgb

    from tabflow.adapters.memory import MemoryStore, MemoryTables
    from tabflow.workflow.payloads import CandidateOutput
    from tabflow.workflow.prepare import prepare
    from tabflow.workflow.train import train_candidate
    from tabflow.workflow.trial import trial

    n = 300_000
    frame, contract = training_data(n)
    store = MemoryStore()
    tables = MemoryTables(store)
    store.put("s3://raw/contracts/bench.yaml", _json.dumps(contract).encode())
    tables.write_parquet(frame, "s3://lake/curated/bench/data.parquet")
    state = {
        "dataset": "bench",
        "run_id": "r1",
        "curated_uri": "s3://lake/curated/bench/data.parquet",
        "contract_uri": "s3://raw/contracts/bench.yaml",
    }
    prepared = prepare(state, store=store, tables=tables, lake_bucket="lake")
    state["prepare"] = prepared.dump()  # the run state holds each task's output as JSON
    defaults = prepared.trials[0]
    # Tuning excluded from the timing: one real trial (the defaults) gives the rounds.
    state["trials"] = [
        trial(
            {**state, "trial": defaults, "split_uri": prepared.split_uri},
            store=store,
            tables=tables,
        ).dump()
    ]

    # The LightGBM candidate's task (the linear baseline trains in a parallel branch).
    def lightgbm_task() -> CandidateOutput:
        return train_candidate(
            state, "lightgbm", store=store, tables=tables, model_bucket="models", lake_bucket="lake"
        )

    value_s = _best(lightgbm_task, repeat=2)
    lgbm = lightgbm_task()
    started = time.perf_counter()
    train_candidate(
        state, "linear", store=store, tables=tables, model_bucket="models", lake_bucket="lake"
    )
    linear_s = time.perf_counter() - started
    params = {k: v for k, v in lgbm.params.items() if k != "num_boost_round"}
    rounds = lgbm.params["num_boost_round"]
    split = _json.loads(store.get(prepared.split_uri))
    from tabflow.contract import parse_contract
    from tabflow.training import build_feature_spec, frame_columns, target_vector

    spec = build_feature_spec(parse_contract(_json.dumps(contract)), frame)
    x, y = spec.matrix(frame_columns(spec, frame)), target_vector(spec, frame)
    fit = np.asarray(split["fit_rows"])

    def bare() -> None:
        lgb.train(
            params,
            lgb.Dataset(x[fit], y[fit], categorical_feature=spec.categorical_indices),
            rounds,
        )

    floor_s = _best(bare, repeat=2)
    return {
        "name": "train_300k_rows",
        "value": round(value_s, 2),
        "unit": "s",
        "floor": round(floor_s, 2),
        "ratio": round(value_s / floor_s, 2),
        "rows": n,
        "columns": 40,
        "rounds": rounds,
        "linear_branch_s": round(linear_s, 2),
    }


CASES["train_300k_rows"] = train_300k_rows


def _champion_in_moto(root: Path):
    """Inside an active mock_aws: the template deployed, Telco trained and promoted through the
    real adapters; returns (deployment, the predict handler module, 1,000 API records)."""
    import importlib.util
    import json as _json
    import os

    import boto3

    from offline_aws.deploy import deploy
    from tabflow.adapters.dynamodb import DynamoRegistry
    from tabflow.adapters.memory import MemoryMailer, MemoryWorkflow
    from tabflow.adapters.s3 import S3Store
    from tabflow.adapters.tables import WranglerTables
    from tabflow.ingestion import IngestConfig, ingest_object
    from tabflow.workflow.evaluate import evaluate
    from tabflow.workflow.promote import promote
    from tabflow.workflow.train import train

    dep = deploy(root, "bench", lambda s: boto3.client(s, region_name="us-east-1"))
    s3 = boto3.client("s3", region_name="us-east-1")
    raw, lake, models = dep.ref("RawBucket"), dep.ref("LakeBucket"), dep.ref("ModelBucket")
    s3.put_object(
        Bucket=raw,
        Key="contracts/telco_churn.yaml",
        Body=(root / "datasets/telco_churn.yaml").read_bytes(),
    )
    data = (root / "datasets/telco_churn.csv").read_bytes()
    put = s3.put_object(Bucket=raw, Key="incoming/telco_churn/t.csv", Body=data)
    store, tables, workflow = S3Store(), WranglerTables(), MemoryWorkflow()
    out = ingest_object(
        key="incoming/telco_churn/t.csv",
        etag=put["ETag"].strip('"'),  # the object is read only while its ETag still matches
        size=len(data),
        config=IngestConfig(raw, lake, ["a@b.c"], 1 << 30),
        store=store,
        tables=tables,
        workflow=workflow,
        mailer=MemoryMailer(),
    )
    assert out.status == "accepted", out
    state = dict(workflow.started[out.run_id])
    state["train"] = train(
        state, store=store, tables=tables, model_bucket=models, lake_bucket=lake
    ).dump()
    registry = DynamoRegistry(dep.ref("RegistryTable"))
    state["evaluation"] = evaluate(
        state, store=store, tables=tables, lake_bucket=lake, model_bucket=models, registry=registry
    ).dump()
    promote(state, store=store, registry=registry, model_bucket=models, code_version="bench")
    spec = dep.function_by_logical("PredictFunction")
    os.environ.update(spec.environment)
    module_spec = importlib.util.spec_from_file_location(
        "bench_predict_app", spec.code_dir / "app.py"
    )
    app = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(app)
    frame = tables.read_parquet(state["curated_uri"]).head(1000)
    records = _json.loads(frame.to_json(orient="records"))
    return dep, app, records, registry


def _api_event(body: str) -> dict:
    return {
        "resource": "/v1/datasets/{dataset}/predict",
        "path": "/v1/datasets/telco_churn/predict",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"dataset": "telco_churn"},
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "bench",
            "stage": "dev",
            "resourcePath": "/v1/datasets/{dataset}/predict",
            "httpMethod": "POST",
            "path": "/dev/v1/datasets/telco_churn/predict",
        },
    }


class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _predict_case(batch: int) -> dict:
    import json as _json
    import os

    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    with mock_aws():
        _, app, records, registry = _champion_in_moto(ROOT)
        champion = app.cache.get("telco_churn")
        spec, booster = (
            champion.spec,
            champion.model.model._booster,
        )  # the calibrated LightGBM's Booster
        from tabflow.serving.records import records_to_columns

        rows = records[:batch]
        x = spec.serving_matrix(records_to_columns(spec, rows))
        body = _json.dumps({"records": rows})
        event, ctx = _api_event(body), _Context()
        assert app.lambda_handler(event, ctx)["statusCode"] == 200
        repeat = 2000 if batch == 1 else 50
        plain_event = dict(event, queryStringParameters={"explain": "false"})
        times, plain = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            app.lambda_handler(event, ctx)
            times.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            app.lambda_handler(plain_event, ctx)
            plain.append((time.perf_counter() - t) * 1000)
        bare = []
        contrib = []
        for _ in range(repeat):
            t = time.perf_counter()
            booster.predict(x)
            bare.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            booster.predict(x, pred_contrib=True)
            contrib.append((time.perf_counter() - t) * 1000)
        app.capture.flush()
    p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
    floor = float(np.percentile(bare, 50))
    if batch == 1:
        return {
            "name": "predict_single",
            "value": round(p99, 3),
            "unit": "ms p99",
            "p50_ms": round(p50, 3),
            "floor": round(floor, 3),
            "ratio": round(p50 / floor, 1),
            "predict_and_contrib_ms": round(float(np.percentile(contrib, 50)), 3),
        }
    with_contrib = float(np.percentile(contrib, 50))
    plain_p50 = float(np.percentile(plain, 50))
    return {
        "name": "predict_batch_1000",
        "value": round(p50, 2),
        "unit": "ms",
        "floor": round(floor, 2),
        "ratio": round(p50 / floor, 2),
        "predict_and_contrib_ms": round(with_contrib, 2),
        "ratio_to_predict_and_contrib": round(p50 / with_contrib, 2),
        # ?explain=false: validation, features, predict, JSON - against the bare predict
        "no_explain_ms": round(plain_p50, 2),
        "no_explain_ratio": round(plain_p50 / floor, 2),
    }


CASES["predict_single"] = lambda: _predict_case(1)
CASES["predict_batch_1000"] = lambda: _predict_case(1000)


def predict_capture() -> dict:
    """The cost of durable captures: 2,000 single-record requests through the predict handler,
    which writes each invocation's capture to S3 (moto, in-process) before it returns, against
    the same requests resolved without that write (captures left in memory, written once at
    the end: what a background flush leaves to chance). Wall p50/p99 and process CPU."""
    import json as _json
    import os

    import boto3
    from moto import mock_aws

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    with mock_aws():
        dep, app, records, _ = _champion_in_moto(ROOT)
        s3, lake = boto3.client("s3", region_name="us-east-1"), dep.ref("LakeBucket")

        def captured() -> tuple[int, int]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=lake, Prefix="captures/")
            found = [o["Key"] for page in pages for o in page.get("Contents", [])]
            rows = sum(
                len(s3.get_object(Bucket=lake, Key=k)["Body"].read().splitlines()) for k in found
            )
            return len(found), rows

        ctx = _Context()
        events = [_api_event(_json.dumps({"records": [r]})) for r in records]
        runs: dict[str, dict] = {}
        for mode, call in (
            ("in_memory", lambda e: app.app.resolve(e, ctx)),
            ("durable", lambda e: app.lambda_handler(e, ctx)),
        ):
            before = captured()
            wall, cpu = [], []
            for i in range(2000):
                c, t = time.process_time(), time.perf_counter()
                call(events[i % len(events)])
                wall.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            at_return = captured()
            app.capture.flush()
            runs[mode] = {
                "p50_ms": float(np.percentile(wall, 50)),
                "p99_ms": float(np.percentile(wall, 99)),
                "cpu_ms": float(np.mean(cpu)),
                "rows_at_return": at_return[1] - before[1],
                "objects": captured()[0] - before[0],
            }
    durable, memory = runs["durable"], runs["in_memory"]
    assert durable["rows_at_return"] == 2000  # every request written before its answer
    return {
        "name": "predict_capture",
        "value": round(durable["p99_ms"], 3),
        "unit": "ms p99",
        "floor": round(memory["p99_ms"], 3),
        "ratio": round(durable["p99_ms"] / memory["p99_ms"], 2),
        "p50_ms": round(durable["p50_ms"], 3),
        "in_memory_p50_ms": round(memory["p50_ms"], 3),
        "cpu_ms": round(durable["cpu_ms"], 3),
        "in_memory_cpu_ms": round(memory["cpu_ms"], 3),
        "objects_per_2000": durable["objects"],
    }


CASES["predict_capture"] = predict_capture


def _stack_with_champion():
    """The offline AWS with the Telco champion promoted through the real workflow."""
    import tempfile as _tempfile

    from offline_aws.demo import wait_for_execution
    from offline_aws.stack import OfflineStack

    stack = OfflineStack(
        ROOT, stack_name="tabflow-bench", state_dir=Path(_tempfile.mkdtemp()) / "state"
    ).start()
    stack.client("s3").upload_file(
        str(ROOT / "datasets/telco_churn.csv"), stack.ref("RawBucket"), "incoming/telco_churn/t.csv"
    )
    stack.wait_idle()
    execution = wait_for_execution(stack)
    assert execution["status"] == "SUCCEEDED", execution
    return stack


def predict_cold_start() -> dict:
    """A fresh process with only the built predict function and its layers (make build):
    import the handler, which loads the champion from the local S3 and registry at init."""
    import json as _json
    import os
    import subprocess
    import sys

    build = ROOT / ".aws-sam" / "build"
    if not (build / "PredictFunction").exists():
        raise RuntimeError(
            "run `make build` first: the cold start is measured on the built artifacts"
        )
    stack = _stack_with_champion()
    try:
        spec = stack.runtime.functions[stack.ref("PredictFunction")]
        site = Path(next(p for p in sys.path if p.endswith("site-packages")))
        runtime = Path(tempfile.mkdtemp())
        for name in (
            "boto3",
            "botocore",
            "s3transfer",
            "jmespath",
            "dateutil",
            "urllib3",
            "six.py",
        ):
            if (site / name).exists():
                (runtime / name).symlink_to(site / name)
        paths = [
            build / "PredictFunction",
            build / "DomainLayer/python",
            build / "PredictLayer/python",
            runtime,
        ]
        script = f"""
import sys, time, json
sys.path[:0] = {[str(p) for p in paths]!r}
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
app.cache.get("telco_churn")
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1}}))
"""
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            | stack.runtime.base_env
            | spec.environment
            | {"LAMBDA_TASK_ROOT": str(build / "PredictFunction")}  # as in Lambda: see functions.py
        )
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-I", "-S", "-c", script],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr[-2000:]
            parts = _json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append((time.perf_counter() - start, parts))
        best = min(runs, key=lambda r: r[0])
        return {
            "name": "predict_cold_start",
            "value": round(best[1]["import_s"] + best[1]["load_s"], 3),
            "unit": "s",
            "import_s": round(best[1]["import_s"], 3),
            "load_champion_s": round(best[1]["load_s"], 3),
            # the handler loads the champions at import (init), so import_s includes that load
            # and the first request's cache.get is a hit (load_champion_s about 0)
            "process_s": round(best[0], 3),
        }
    finally:
        stack.stop()


def local_load() -> dict:
    """32 concurrent clients for 20 s against the local API gateway on loopback (bounded)."""
    import threading

    import requests

    stack = _stack_with_champion()
    try:
        from offline_aws.demo import typed_records

        records = typed_records(ROOT, 64)
        url = f"{stack.api_url}/v1/datasets/telco_churn/predict"
        headers = {"x-api-key": stack.api_key}
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        stop = time.monotonic() + 20

        def client(i: int) -> None:
            session = requests.Session()
            n = 0
            while time.monotonic() < stop:
                t = time.perf_counter()
                status = session.post(
                    url,
                    json={"records": [records[(i + n) % len(records)]]},
                    headers=headers,
                    timeout=30,
                ).status_code
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
                    statuses[status] = statuses.get(status, 0) + 1
                n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return {
            "name": "local_load",
            "value": round(len(latencies) / 20, 1),
            "unit": "rps",
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
            "statuses": statuses,
            "clients": 32,
        }
    finally:
        stack.stop()


CASES["predict_cold_start"] = predict_cold_start
CASES["local_load"] = local_load


def tuning_vs_defaults() -> dict:
    """The tuned path against untuned LightGBM on small wide imbalanced files (bench/tuning.py)."""
    from bench.tuning import tuning_vs_defaults as case

    return case()


CASES["tuning_vs_defaults"] = tuning_vs_defaults
