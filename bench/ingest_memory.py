"""Peak memory of the ingest use case on one file, each run in a fresh process (VmHWM).

    python -m bench.ingest_memory valid,invalid,duplicates 8,32

Kinds: ``valid`` (Telco rows with fresh ids), ``invalid`` (every row wrong in four columns:
tenure, monthly_charges, churn, female), ``garbage`` (every field "x": the most problems per
input byte), ``duplicates`` (one valid row repeated). Each file
is generated in the parent, written to a temporary file, and ingested by a child process
(memory adapters: the object's bytes are held as S3Store.get holds them)."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("valid", "invalid", "garbage", "duplicates")


def make_file(kind: str, size_mb: float) -> bytes:
    lines = (ROOT / "datasets" / "telco_churn.csv").read_bytes().decode().splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line]
    cols = header.split(",")
    target = int(size_mb * 2**20)
    out = [header]
    total = len(header) + 1
    i = 0
    while total < target:
        fields = rows[i % len(rows)].split(",")
        if kind == "duplicates":
            fields = rows[0].split(",")
        else:
            fields[cols.index("customer_id")] = f"C{i:09d}"
        if kind == "garbage":  # every field wrong and short: the costliest quarantine
            fields = ["x"] * len(cols)
        if kind == "invalid":
            fields[cols.index("tenure")] = "soon"
            fields[cols.index("monthly_charges")] = "lots"
            fields[cols.index("churn")] = "Maybe"
            fields[cols.index("female")] = "perhaps"
        line = ",".join(fields)
        out.append(line)
        total += len(line) + 1
        i += 1
    return ("\n".join(out) + "\n").encode()


def child(path: str) -> dict:
    from bench.scale import peak_rss_mb
    from tabflow.adapters.memory import MemoryMailer, MemoryStore, MemoryTables, MemoryWorkflow
    from tabflow.ingestion import IngestConfig, ingest_object

    before = peak_rss_mb()
    store = MemoryStore()
    store.put(
        "s3://raw/contracts/telco_churn.yaml",
        (ROOT / "datasets" / "telco_churn.yaml").read_bytes(),
    )
    key = "incoming/telco_churn/file.csv"
    data = Path(path).read_bytes()
    store.put(f"s3://raw/{key}", data)
    size = len(data)
    del data
    outcome = ingest_object(
        key=key,
        etag="e",
        size=size,
        config=IngestConfig("raw", "lake", ["a@example.com"], 1 << 31),
        store=store,
        tables=MemoryTables(store),
        workflow=MemoryWorkflow(),
        mailer=MemoryMailer(),
    )
    written = {
        uri.rsplit("/", 1)[-1]: len(body)
        for uri, body in store.objects.items()
        if "/quarantine/" in uri or "/curated/" in uri
    }
    return {
        "status": outcome.status,
        "problems": [p[:200] for p in outcome.problems],
        "counts": outcome.counts,
        "input_mb": round(size / 2**20, 1),
        "written_mb": {k: round(v / 2**20, 2) for k, v in written.items()},
        "imports_rss_mb": round(before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def measure(kind: str, size_mb: float) -> dict:
    """Generate the file here, ingest it in a fresh process, return its figures."""
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(make_file(kind, size_mb))
        f.flush()
        proc = subprocess.run(
            [sys.executable, "-m", "bench.ingest_memory", "--child", f.name],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
        return {"kind": kind, "size_mb": size_mb, "error": tail[0]}
    return {"kind": kind, "size_mb": size_mb} | json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    if sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
        return 0
    kinds = sys.argv[1].split(",")
    sizes = [float(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "8").split(",")]
    for size in sizes:
        for kind in kinds:
            print(json.dumps(measure(kind, size)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
