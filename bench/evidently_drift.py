"""Evidently's DataDriftPreset on the data of the drift_1m_rows case, in the same run.

Evidently pins its own pandas/pydantic/numpy, so it lives in its own virtualenv
(`make evidently-env` creates .venv-evidently, never touching .venv). The bench case writes
its reference and window columns as .npy files and runs this file with that virtualenv's
Python in a subprocess (`python bench/evidently_drift.py DIR`), which times only
``Report.run`` and prints one JSON line. When the virtualenv is missing, the case reports why
and skips the comparison.

This file imports nothing of tabflow: the parent side (``compare``) uses only the standard
library and numpy, the child side numpy, pandas and evidently."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-evidently"
VERSION = "0.7.23"


def evidently_python() -> Path | None:
    """The Python of the Evidently virtualenv (EVIDENTLY_PYTHON overrides), if it exists."""
    chosen = os.environ.get("EVIDENTLY_PYTHON")
    path = Path(chosen) if chosen else VENV / "bin" / "python"
    return path if path.exists() else None


def compare(columns: dict, timeout: float = 1800) -> dict:
    """Run DataDriftPreset on ``columns``: {"reference": {name: array}, "current": {...},
    "categories": [letters], "categorical": [names]} (categorical columns as integer codes
    into ``categories``). Returns {"evidently_s", "evidently_version", "evidently_drifted"}
    or {"evidently": "skipped: why"}."""
    import numpy as np

    python = evidently_python()
    if python is None:
        return {"evidently": f"skipped: no {VENV.name} (run `make evidently-env`)"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for side in ("reference", "current"):
            for name, values in columns[side].items():
                np.save(folder / f"{side}.{name}.npy", np.asarray(values))
        meta = {"categories": columns["categories"], "categorical": columns["categorical"]}
        (folder / "meta.json").write_text(json.dumps(meta))
        proc = subprocess.run(
            [str(python), str(Path(__file__).resolve()), str(folder)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp,
        )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        return {"evidently": f"skipped: it failed ({last})"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(folder: Path) -> None:
    import numpy as np
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently import __version__ as version
    from evidently.presets import DataDriftPreset

    meta = json.loads((folder / "meta.json").read_text())
    categories = np.asarray(meta["categories"])
    frames = {}
    for side in ("reference", "current"):
        data = {}
        for path in sorted(folder.glob(f"{side}.*.npy")):
            name = path.name[len(side) + 1 : -4]
            values = np.load(path)
            data[name] = categories[values] if name in meta["categorical"] else values
        frames[side] = pd.DataFrame(data)
    names = list(frames["reference"].columns)
    definition = DataDefinition(
        numerical_columns=[n for n in names if n not in meta["categorical"]],
        categorical_columns=[n for n in names if n in meta["categorical"]],
    )
    reference = Dataset.from_pandas(frames["reference"], data_definition=definition)
    current = Dataset.from_pandas(frames["current"], data_definition=definition)
    report = Report([DataDriftPreset()])
    started = time.perf_counter()
    snapshot = report.run(current, reference)
    seconds = time.perf_counter() - started
    drifted = None
    for metric in snapshot.dict().get("metrics", []):
        if str(metric.get("metric_name", "")).startswith("DriftedColumnsCount"):
            drifted = int(metric["value"]["count"])
    print(
        json.dumps(
            {
                "evidently_s": round(seconds, 2),
                "evidently_version": version,
                "evidently_drifted": drifted,
            }
        )
    )


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
