"""Small, real training runs for the promotion and serving tests.

Each run fits a LightGBM model (and, when the linear model wins, the logistic baseline) of
Telco churn with the domain code on a few hundred rows (a fixed 30 rounds: a fraction of a
second), calibrates it, and leaves the files the Train and Evaluate tasks leave under
``<dataset>/runs/<run_id>/``. ``Run.state`` is the input the Promote task receives. Runs differ
in their rows and seed, so every run's model and calibrator bytes are its own: a version that
mixes two runs is visible by sha256.

Also here: a lock that makes each moto request atomic, as each AWS request is (moto's
in-process backends are not thread-safe), and the checks a registry must pass."""

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import numpy as np
import pytest

from tabflow.calibration import ThresholdRule
from tabflow.contract import parse_contract
from tabflow.drift import build_reference
from tabflow.evaluation.metrics import binary_metrics
from tabflow.models.base import TrainingRows, candidate, load_calibrated
from tabflow.readers import read_table
from tabflow.training import build_feature_spec, frame_columns, target_vector
from tabflow.validation import validate
from tabflow.workflow.data import make_split

DATASET = "telco_churn"
ROWS = 900  # of the Telco file: enough for a model, little enough to fit in a blink


@dataclass
class Run:
    """One run's files (keys relative to the model bucket) and what Promote reads."""

    index: int
    run_id: str
    winner: str
    files: dict[str, bytes]
    spec_key: str
    model_key: str
    calibration_key: str
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def model_sha256(self) -> str:
        return hashlib.sha256(self.files[self.model_key]).hexdigest()


@dataclass(frozen=True)
class _Fit:
    """What fitting a run yields, before it has bucket names."""

    index: int
    winner: str
    spec: bytes
    reference: bytes
    models: dict[str, tuple[str, bytes, bytes]]  # kind -> (file name, model, calibrator)
    threshold: float
    metrics: dict[str, float]


def fit_runs(count: int, telco_csv: bytes, contract_text: str) -> list[_Fit]:
    """``count`` different runs; the winner alternates LightGBM / linear."""
    contract = parse_contract(contract_text, source="telco_churn.yaml")
    head = b"\n".join(telco_csv.splitlines()[: ROWS + 1]) + b"\n"
    raw = read_table(head, name="t.csv")
    frame = validate(raw, contract, file="t.csv").curated.reset_index(drop=True)
    spec = build_feature_spec(contract, frame)
    x_all = spec.matrix(frame_columns(spec, frame))
    y_all = target_vector(spec, frame)
    cfg = contract.training
    rule: ThresholdRule = cfg.threshold_rule  # type: ignore[assignment]
    fits = []
    for i in range(count):
        rng = np.random.default_rng(1000 + i)
        rows = np.sort(rng.choice(len(y_all), int(len(y_all) * 0.85), replace=False))
        x, y = x_all[rows], y_all[rows]
        split = make_split(y, None, 0.2, 7 + i, False)
        fit_idx, valid_idx = np.asarray(split["fit_rows"]), np.asarray(split["valid_rows"])
        # one thread: OpenMP threads on a busy 2-core machine wait on each other (~1 s a round)
        params = {"num_leaves": 7 + i % 5, "learning_rate": 0.1, "num_threads": 1}
        tuned = {"params": params, "rounds": 30}
        winner = "lightgbm" if i % 2 == 0 else "linear"
        models: dict[str, tuple[str, bytes, bytes]] = {}
        reference = b""
        threshold, metrics = 0.5, {}
        for kind in dict.fromkeys(("lightgbm", winner)):
            cand = candidate(kind)
            fitted = cand.fit(TrainingRows(x, y, spec, fit_idx, valid_idx, i, "none", tuned))
            calibrated = cand.calibrate(
                fitted.raw_valid, y[valid_idx], task=spec.task, method=cfg.calibration, rule=rule
            )
            models[kind] = (
                cand.model_file,
                cand.save(fitted),
                calibrated.calibrator.to_json().encode(),
            )
            if kind == "lightgbm":
                gain = fitted.model.importance()  # type: ignore[attr-defined]
                importance = {
                    n: float(g / gain.sum()) for n, g in zip(spec.names, gain, strict=True)
                }
                reference = (
                    build_reference(spec, x, fitted.model.predict(x), importance, seed=i)
                    .to_json()
                    .encode()
                )
            if kind == winner:
                threshold = calibrated.threshold
                m = binary_metrics(y[valid_idx], calibrated.scores, threshold=threshold)
                metrics = {k: m[k] for k in ("auc", "pr_auc", "brier", "ece")}
        fits.append(_Fit(i, winner, spec.to_json().encode(), reference, models, threshold, metrics))
    return fits


def materialize(
    fits: list[_Fit], aws: Any, tag: str, s3: Any = None, dataset: str = DATASET
) -> list[Run]:
    """Put each fit's files in the model bucket as run ``<tag>-<i>`` and build its state
    (``aws``: anything with ``ref(logical_id)``, the moto deployment or the offline stack)."""
    s3 = s3 or boto3.client("s3", region_name="us-east-1")
    models, raw = aws.ref("ModelBucket"), aws.ref("RawBucket")
    runs = []
    for fit in fits:
        run_id = f"{tag}-{fit.index}"
        prefix = f"{dataset}/runs/{run_id}"
        files = {
            f"{prefix}/features.json": fit.spec,
            f"{prefix}/reference.json": fit.reference,
            f"{prefix}/report.html": f"<html>evaluation of run {run_id}</html>".encode(),
            f"{prefix}/model_card.md": f"# model card of run {run_id}\n".encode(),
        }
        candidates = {}
        for kind, (name, model, calibration) in fit.models.items():
            files[f"{prefix}/{kind}/{name}"] = model
            files[f"{prefix}/{kind}/calibration.json"] = calibration
            candidates[kind] = {
                "model_uri": f"s3://{models}/{prefix}/{kind}/{name}",
                "calibration_uri": f"s3://{models}/{prefix}/{kind}/calibration.json",
                "reference_uri": f"s3://{models}/{prefix}/reference.json",
                "params": {"run": run_id},
                "calibration": json.loads(calibration)["method"],
                "threshold": fit.threshold,
                "threshold_reason": "cost",
                "validation": dict(fit.metrics),
            }
        for key, data in files.items():
            s3.put_object(Bucket=models, Key=key, Body=data)
        winner_file = fit.models[fit.winner][0]
        run = Run(
            fit.index,
            run_id,
            fit.winner,
            files,
            spec_key=f"{prefix}/features.json",
            model_key=f"{prefix}/{fit.winner}/{winner_file}",
            calibration_key=f"{prefix}/{fit.winner}/calibration.json",
        )
        run.state = {
            "dataset": dataset,
            "run_id": run_id,
            "contract_uri": f"s3://{raw}/contracts/{dataset}.yaml",
            "curated_uri": f"s3://{aws.ref('LakeBucket')}/curated/{dataset}/run={run_id}/x.parquet",
            "source_uri": f"s3://{raw}/incoming/{dataset}/{run_id}.csv",
            "source_sha256": hashlib.sha256(run_id.encode()).hexdigest(),
            "train": {
                "candidates": candidates,
                "chosen": fit.winner,
                "spec_uri": f"s3://{models}/{prefix}/features.json",
                "split_uri": f"s3://{aws.ref('LakeBucket')}/runs/{dataset}/run={run_id}/split.json",
                "split": "stratified",
                "tuning": None,
                "importance": {},
                "rows": {"train": 600, "validation": 100, "test": 150},
            },
            "evaluation": {
                "winner": fit.winner,
                "promote": True,
                "metrics": fit.metrics,
                "all_metrics": {fit.winner: fit.metrics},
                "gates": [{"name": "auc_floor", "passed": True, "detail": f"run {run_id}"}],
                "failed_gates": [],
                "threshold": fit.threshold,
                "evaluation_uri": f"s3://{aws.ref('LakeBucket')}/reports/{dataset}/run={run_id}/evaluation.json",
                "report_uri": f"s3://{models}/{prefix}/report.html",
                "model_card_uri": f"s3://{models}/{prefix}/model_card.md",
            },
        }
        runs.append(run)
    return runs


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch):
    """Each moto request runs whole before the next (AWS applies each request atomically;
    moto's in-process backends are plain dicts, and a transaction that fails restores a
    copy of the table, which would undo other threads' writes). Requests from different
    threads still interleave freely: the races between them are the real ones."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.__call__

    def atomic(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", atomic)
    return lock


def registry_items(aws: Any, ddb: Any = None) -> list[dict[str, Any]]:
    ddb = ddb or boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": aws.ref("RegistryTable")}
    while True:
        resp = ddb.scan(**kwargs)
        items += resp["Items"]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def check_versions(
    aws: Any,
    runs: dict[str, Run],
    *,
    champion_is_newest: bool = True,
    files_of: set[str] | None = None,
    s3: Any = None,
    ddb: Any = None,
    dataset: str = DATASET,
) -> dict[str, Any]:
    """Every registered version's record and files belong to one run, each run has at most
    one version, numbers run 1..N without gaps, and the champion is the newest (``files_of``:
    read the files of these runs only). Returns
    {"versions": {number: run_id}, "champion": number}; raises AssertionError with every
    mixed version found."""
    s3 = s3 or boto3.client("s3", region_name="us-east-1")
    bucket = aws.ref("ModelBucket")

    def get(uri: str) -> bytes:
        b, _, key = uri[5:].partition("/")
        assert b == bucket, uri
        return s3.get_object(Bucket=b, Key=key)["Body"].read()

    docs = {}
    champion = None
    for item in registry_items(aws, ddb):
        if item["pk"]["S"] != dataset:
            continue
        sk = item["sk"]["S"]
        if sk.startswith("v#"):
            doc = json.loads(item["doc"]["S"])
            docs[doc["version"]] = doc
        elif sk == "champion":
            champion = int(item["version"]["N"])
    problems = []
    for number, doc in sorted(docs.items()):
        run = runs.get(doc["run_id"])
        if run is None:
            problems.append(f"v{number}: unknown run {doc['run_id']}")
            continue
        if files_of is not None and run.run_id not in files_of:
            continue  # checked before (``files_of``: only these runs' files)
        meta = json.loads(get(doc["metadata_uri"]))
        model = get(doc["model_uri"])
        checks = {
            "metadata run_id": meta["run_id"] == doc["run_id"],
            "metadata kind": meta["kind"] == doc["kind"] == run.winner,
            "model bytes are the run's": model == run.files[run.model_key],
            "registry sha256": hashlib.sha256(model).hexdigest() == doc["sha256"],
            "metadata sha256": meta["model_sha256"] == doc["sha256"],
            "calibrator is the run's": get(doc["calibration_uri"])
            == run.files[run.calibration_key],
            "spec is the run's": get(doc["spec_uri"]) == run.files[run.spec_key],
            "gates are the run's": meta["gates"] == run.state["evaluation"]["gates"],
        }
        folder = doc["model_uri"].rsplit("/", 1)[0]
        b, _, prefix = folder[5:].partition("/")
        names = {
            o["Key"].rsplit("/", 1)[-1]
            for o in s3.list_objects_v2(Bucket=b, Prefix=prefix + "/").get("Contents", [])
        }
        checks["one model file"] = len(names & {"model.txt", "model.json"}) == 1
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            problems.append(f"v{number} (run {doc['run_id']}): {', '.join(bad)}")
    owners = [doc["run_id"] for doc in docs.values()]
    dupes = {r for r in owners if owners.count(r) > 1}
    if dupes:
        problems.append(f"runs with more than one version: {sorted(dupes)}")
    if sorted(docs) != list(range(1, len(docs) + 1)):
        problems.append(f"version numbers with gaps: {sorted(docs)}")
    if docs and champion not in docs:
        problems.append(f"champion v{champion} is not a registered version")
    if docs and champion_is_newest and champion != max(docs):
        problems.append(f"champion v{champion} is not the newest version v{max(docs)}")
    assert not problems, "mixed or inconsistent versions:\n" + "\n".join(problems)
    return {"versions": {n: d["run_id"] for n, d in docs.items()}, "champion": champion}


def expected_score(run: Run, record_matrix: np.ndarray) -> float:
    """What the run's own model and calibrator answer for one row."""
    model = load_calibrated(run.winner, run.files[run.model_key], run.files[run.calibration_key])
    return round(float(model.predict(record_matrix)[0]), 6)
