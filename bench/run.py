"""`make bench [ONLY=name]`: speed and memory figures, each a ratio against a floor measured
in the same run on the same machine (these machines are shared and noisy).

Every case runs in its own process, so its peak RSS is its own. Results go to
bench/results.json and the table in bench/README.md."""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import cases
from bench.scale import peak_rss_mb

HERE = Path(__file__).resolve().parent


def run_case(name: str) -> dict:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--child", name],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    if proc.returncode != 0:
        return {
            "name": name,
            "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed",
        }
    figure = json.loads(proc.stdout.strip().splitlines()[-1])
    figure.setdefault("wall_s", round(time.monotonic() - started, 1))
    return figure


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figure = cases.CASES[args.child]()
        figure["peak_rss_mb"] = figure.get("peak_rss_mb") or round(peak_rss_mb(), 1)
        print(json.dumps(figure))
        return 0
    names = [n for n in cases.CASES if not args.only or n in args.only.split(",")]
    if not names:
        print(f"no benchmark named {args.only!r}; known: {', '.join(cases.CASES)}")
        return 2
    results_file = HERE / "results.json"
    previous = (
        json.loads(results_file.read_text()).get("figures", []) if results_file.exists() else []
    )
    figures = {f["name"]: f for f in previous}
    for name in names:
        print(f"running {name} ...", flush=True)
        figure = run_case(name)
        figures[name] = figure
        print("  " + json.dumps(figure), flush=True)
    ordered = [figures[n] for n in cases.CASES if n in figures]
    results_file.write_text(json.dumps({"figures": ordered}, indent=1) + "\n")
    write_table(ordered)
    # The exit code reports on the cases this run ran, not on older stored figures.
    return 0 if all("error" not in figures[n] for n in names) else 1


def write_table(figures: list[dict]) -> None:
    lines = [
        "| name | value | unit | floor | ratio | peak RSS MB | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        notes = ", ".join(
            f"{k}={v}"
            for k, v in f.items()
            if k not in ("name", "value", "unit", "floor", "ratio", "peak_rss_mb", "wall_s")
        )
        lines.append(
            f"| {f['name']} | {f.get('value', '')} | {f.get('unit', '')} | {f.get('floor', '')} | "
            f"{f.get('ratio', '')} | {f.get('peak_rss_mb', '')} | {notes} |"
        )
    readme = HERE / "README.md"
    head = readme.read_text().split("<!-- results -->")[0] if readme.exists() else ""
    readme.write_text(head + "<!-- results -->\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
