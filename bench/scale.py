"""`make bench-scale`: where training outgrows Lambda. Each task of the training workflow
(Prepare, one tuning trial, the LightGBM and linear candidates, Evaluate) runs on n rows x 40
columns in a fresh process that holds only what the task's Lambda would hold (the curated
Parquet, the split, the contract, the models), and reports its time and peak RSS. The table goes to bench/scale.json
and is what the README's switch point (Lambda or AWS Batch) is derived from."""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = ("prepare", "trial", "lightgbm", "linear", "evaluate")
STATE = {
    "dataset": "bench",
    "run_id": "r1",
    "curated_uri": "s3://lake/curated/bench/data.parquet",
    "contract_uri": "s3://raw/contracts/bench.yaml",
}


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the process image, so it starts afresh at
    exec; ru_maxrss would report the parent's size at fork when that was larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _dump(store, folder: Path) -> None:
    index = {}
    for i, (uri, data) in enumerate(store.objects.items()):
        (folder / f"{i}.bin").write_bytes(data)
        index[uri] = f"{i}.bin"
    (folder / "index.json").write_text(json.dumps(index))


def _load(folder: Path):
    from tabflow.adapters.memory import MemoryStore

    store = MemoryStore()
    for uri, name in json.loads((folder / "index.json").read_text()).items():
        store.put(uri, (folder / name).read_bytes())
    return store


def setup(rows: int, folder: Path) -> dict:
    """The curated data, the Prepare step's output and the trained candidates, as the later
    tasks find them."""
    from bench.cases import training_data
    from tabflow.adapters.memory import MemoryStore, MemoryTables
    from tabflow.workflow.prepare import prepare
    from tabflow.workflow.train import train

    frame, contract = training_data(rows)
    store = MemoryStore()
    tables = MemoryTables(store)
    store.put(STATE["contract_uri"], json.dumps(contract).encode())
    tables.write_parquet(frame, STATE["curated_uri"])
    del frame
    state = dict(STATE)
    # the run state as the state machine holds it (each output's JSON): the children read it
    state["prepare"] = prepare(state, store=store, tables=tables, lake_bucket="lake").dump()
    state["train"] = train(
        state, store=store, tables=tables, model_bucket="models", lake_bucket="lake"
    ).dump()
    _dump(store, folder)
    return state


def child(task: str, folder: Path, state: dict) -> dict:
    from tabflow.adapters.memory import MemoryTables
    from tabflow.workflow.evaluate import evaluate
    from tabflow.workflow.prepare import prepare
    from tabflow.workflow.train import train_candidate
    from tabflow.workflow.trial import trial

    store = _load(folder)
    tables = MemoryTables(store)
    before = peak_rss_mb()
    started = time.perf_counter()
    if task == "prepare":
        prepare(state, store=store, tables=tables, lake_bucket="lake")
    elif task == "trial":
        first = state["prepare"]["trials"][0]
        trial(
            {**state, "trial": first, "split_uri": state["prepare"]["split_uri"]},
            store=store,
            tables=tables,
        )
    elif task == "evaluate":
        from tabflow.adapters.memory import MemoryRegistry

        evaluate(
            state,
            store=store,
            tables=tables,
            lake_bucket="lake",
            model_bucket="models",
            registry=MemoryRegistry(),
        )
    else:
        train_candidate(
            state, task, store=store, tables=tables, model_bucket="models", lake_bucket="lake"
        )
    return {
        "task": task,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_before_mb": round(before),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="250000,500000,1000000,2000000")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # task folder state.json
    args = parser.parse_args()
    if args.child:
        task, folder, state_file = args.child
        state = json.loads(Path(state_file).read_text())
        print(json.dumps(child(task, Path(folder), state)))
        return 0
    table = []
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            state = setup(rows, folder)
            state_file = folder / "state.json"
            state_file.write_text(json.dumps(state))
            for task in TASKS:
                proc = subprocess.run(
                    [sys.executable, "-m", "bench.scale", "--child", task, tmp, str(state_file)],
                    capture_output=True,
                    text=True,
                    cwd=HERE.parent,
                )
                if proc.returncode != 0:
                    print(proc.stderr[-2000:], file=sys.stderr)
                    return 1
                row = {"rows": rows, "columns": 40, **json.loads(proc.stdout.splitlines()[-1])}
                print(json.dumps(row), flush=True)
                table.append(row)
    # Merged with earlier runs by (rows, task): `ROWS=1000000` re-measures one size.
    out = HERE / "scale.json"
    merged = (
        {(r["rows"], r["task"]): r for r in json.loads(out.read_text())} if out.exists() else {}
    )
    merged |= {(r["rows"], r["task"]): r for r in table}
    rows_sorted = sorted(merged.values(), key=lambda r: (r["rows"], TASKS.index(r["task"])))
    out.write_text(json.dumps(rows_sorted, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
