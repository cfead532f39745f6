"""The benchmark cases. Each returns {"name", "value", "unit", "floor", "ratio", ...}."""

import io
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


CASES: dict[str, Callable[[], dict]] = {
    "ingest_1m_rows": ingest_1m_rows,
}


def drift_1m_rows() -> dict:
    """The monitor's drift check on 1M captured rows x 30 features (20 numeric, 10 categorical),
    against the same statistics computed directly with numpy/scipy."""
    import pyarrow as pa
    from scipy import stats as sps

    from tabflow.contract import Monitoring
    from tabflow.drift import build_reference
    from tabflow.features import Feature, FeatureSpec
    from tabflow.monitoring import drift_check

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
    reference = build_reference(spec, ref_x, rng.random(n_ref))
    del ref_x
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
    return {
        "name": "drift_1m_rows",
        "value": round(value_s, 2),
        "unit": "s",
        "floor": round(floor_s, 2),
        "ratio": round(value_s / floor_s, 2),
        "rows": n,
        "features": 30,
        "drifted": len(report.drifted),
    }


def _contract(monitoring):
    """A minimal contract object carrying the monitoring settings (drift_check reads only those)."""
    from types import SimpleNamespace

    return SimpleNamespace(monitoring=monitoring)


CASES["drift_1m_rows"] = drift_1m_rows


def train_300k_rows() -> dict:
    """The Train task (final candidates: LightGBM with early stopping, the linear baseline,
    calibration, threshold, drift reference) on 300k rows x 40 columns, tuning excluded,
    against a bare lightgbm.train with the same final parameters and rounds on the same rows."""
    import json as _json

    import lightgbm as lgb
    import pandas as pd

    from tabflow import pipeline
    from tabflow.adapters.memory import MemoryStore, MemoryTables

    rng = np.random.default_rng(0)
    n = 300_000
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
    state["prepare"] = pipeline.prepare(state, store=store, tables=tables, lake_bucket="lake")
    defaults = state["prepare"]["trials"][0]
    # Tuning excluded from the timing: one real trial (the defaults) gives the rounds.
    state["trials"] = [
        pipeline.trial(
            {**state, "trial": defaults, "split_uri": state["prepare"]["split_uri"]},
            store=store,
            tables=tables,
        )
    ]

    # The LightGBM candidate's task (the linear baseline trains in a parallel branch).
    def lightgbm_task() -> dict:
        return pipeline.train_candidate(
            state, "lightgbm", store=store, tables=tables, model_bucket="models", lake_bucket="lake"
        )

    value_s = _best(lightgbm_task, repeat=2)
    lgbm = lightgbm_task()
    started = time.perf_counter()
    pipeline.train_candidate(
        state, "linear", store=store, tables=tables, model_bucket="models", lake_bucket="lake"
    )
    linear_s = time.perf_counter() - started
    params = {k: v for k, v in lgbm["params"].items() if k != "num_boost_round"}
    rounds = lgbm["params"]["num_boost_round"]
    split = _json.loads(store.get(state["prepare"]["split_uri"]))
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
