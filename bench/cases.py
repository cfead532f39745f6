"""The benchmark cases. Each returns {"name", "value", "unit", "floor", "ratio", ...}."""

import io
import time
from collections.abc import Callable
from pathlib import Path

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
