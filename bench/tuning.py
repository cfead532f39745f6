"""`tuning_vs_defaults`: the tuned path (Prepare, every trial of the default budget, the
LightGBM candidate's Train task) against untuned LightGBM (lightgbm's own defaults, 100
rounds, fitted on the same training rows) on issue 11's kind of file: 5,800 rows, about 6%
positives, 85 columns of which six carry signal. Both are scored on the split's test rows
and on 20,000 fresh rows of the same source; several files (seeds). A figure, not a test:
tests/unit/test_tuning_defaults.py runs a one-trial version."""

import json
import time

import numpy as np


def _one(seed: int) -> dict:
    import lightgbm as lgb
    import pandas as pd

    from tabflow.adapters.memory import MemoryStore, MemoryTables
    from tabflow.evaluation.metrics import roc_auc
    from tabflow.models.base import load_stored
    from tabflow.workflow.prepare import prepare
    from tabflow.workflow.train import train_candidate
    from tabflow.workflow.trial import trial
    from tests.unit.test_tuning_defaults import WIDE_CONTRACT, wide_imbalanced

    x, y = wide_imbalanced(5800, seed=seed)
    names = [f"f{i:02d}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=names)
    frame.insert(0, "id", [f"r{i}" for i in range(len(y))])
    frame["target"] = np.where(y == 1, "yes", "no")
    store = MemoryStore()
    tables = MemoryTables(store)
    contract = WIDE_CONTRACT % ("\n".join(f"  {c}: {{type: float}}" for c in names), 6)
    store.put("s3://raw/contracts/wide.yaml", contract.encode())
    tables.write_parquet(frame, "s3://lake/curated/wide/run=1/part.parquet")
    state: dict = {
        "dataset": "wide",
        "run_id": "1",
        "contract_uri": "s3://raw/contracts/wide.yaml",
        "curated_uri": "s3://lake/curated/wide/run=1/part.parquet",
    }
    started = time.perf_counter()
    prepared = prepare(state, store=store, tables=tables, lake_bucket="lake")
    state["prepare"] = prepared.dump()  # the run state holds each task's output as JSON
    uri = prepared.split_uri
    state["trials"] = [
        trial({**state, "trial": t, "split_uri": uri}, store=store, tables=tables).dump()
        for t in prepared.trials
    ]
    cand = train_candidate(
        state, "lightgbm", store=store, tables=tables, model_bucket="m", lake_bucket="lake"
    )
    seconds = time.perf_counter() - started
    tuning = cand.tuning or {}
    model = load_stored(store, "lightgbm", cand.model_uri, None)
    split = json.loads(store.get(uri))
    train_rows, test = np.asarray(split["train_rows"]), np.asarray(split["test_rows"])
    untuned = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_threads": 2, "seed": 42},
        lgb.Dataset(x[train_rows], y[train_rows]),
        num_boost_round=100,
    )
    fresh_x, fresh_y = wide_imbalanced(20_000, seed=seed + 1000)
    return {
        "seed": seed,
        "tuned_test": round(roc_auc(y[test], model.predict(x[test])), 4),
        "untuned_test": round(roc_auc(y[test], untuned.predict(x[test])), 4),
        "tuned_fresh": round(roc_auc(fresh_y, model.predict(fresh_x)), 4),
        "untuned_fresh": round(roc_auc(fresh_y, untuned.predict(fresh_x)), 4),
        "rounds": cand.params["num_boost_round"],
        "trial": tuning["trial"],
        "selection": tuning["selection"],
        "tuning_s": round(seconds, 1),
    }


def tuning_vs_defaults() -> dict:
    runs = [_one(seed) for seed in (7, 8, 9)]
    tuned = float(np.mean([r["tuned_fresh"] for r in runs]))
    untuned = float(np.mean([r["untuned_fresh"] for r in runs]))
    return {
        "name": "tuning_vs_defaults",
        "value": round(tuned, 4),
        "unit": "AUC (fresh rows, mean of 3 files)",
        "floor": round(untuned, 4),
        "ratio": round(tuned / untuned, 4),
        "worst_gap_fresh": round(min(r["tuned_fresh"] - r["untuned_fresh"] for r in runs), 4),
        "worst_gap_test": round(min(r["tuned_test"] - r["untuned_test"] for r in runs), 4),
        "runs": runs,
    }
