"""Rendering of validation reports (the JSON document is the source; HTML is a view of it)."""

import json
from html import escape
from typing import Any


def validation_html(report: dict[str, Any]) -> str:
    counts = report.get("counts") or {}
    head = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in counts.items())
    problems = "".join(f"<li>{escape(p)}</li>" for p in report.get("problems", []))
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report.get("warnings", []))
    renamed = "".join(
        f"<li>{escape(k)} &rarr; {escape(v)}</li>"
        for k, v in (report.get("renamed_headers") or {}).items()
    )
    ignored = ", ".join(escape(c) for c in report.get("ignored_columns", []))
    fmt = report.get("format") or {}
    where = "".join(
        f"<li>{escape(k)}: <code>{escape(str(report[k]))}</code></li>"
        for k in ("quarantine_uri", "duplicates_uri", "curated_uri", "sha256")
        if report.get(k)
    )
    cols = ""
    for name, c in (report.get("columns") or {}).items():
        examples = "; ".join(
            f"{e['value']!r}: {e['reason']}" for e in c.get("invalid_examples", [])
        )
        stats = {k: c[k] for k in ("min", "max", "mean", "p50") if k in c}
        cols += (
            f"<tr><td>{escape(name)}</td><td>{c.get('missing', 0)}</td><td>{c.get('invalid', 0)}</td>"
            f"<td>{escape(examples)}</td><td>{escape(json.dumps(stats or c.get('top_values', {})))}</td></tr>"
        )
    return (
        "<html><head><meta charset='utf-8'><title>Validation report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:3px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Validation: {escape(report.get('file', ''))}</h1>"
        f"<p>Status: <b>{escape(report.get('status', ''))}</b> - dataset {escape(report.get('dataset', ''))},"
        f" run {escape(report.get('run_id', ''))}</p>"
        f"<table>{head}</table>"
        + (f"<h2>Problems</h2><ul>{problems}</ul>" if problems else "")
        + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
        + (f"<h2>Headers renamed</h2><ul>{renamed}</ul>" if renamed else "")
        + (
            f"<p>Columns not in the contract (kept in the raw file only): {ignored}</p>"
            if ignored
            else ""
        )
        + (
            f"<p>Read as {escape(str(fmt.get('type')))}, encoding {escape(str(fmt.get('encoding')))}, "
            f"delimiter {escape(repr(fmt.get('delimiter')))}</p>"
            if fmt
            else ""
        )
        + (f"<ul>{where}</ul>" if where else "")
        + "<h2>Columns</h2><table><tr><th>column</th><th>missing</th><th>invalid</th>"
        f"<th>examples</th><th>summary</th></tr>{cols}</table></body></html>"
    )


def monitoring_html(result: dict[str, Any]) -> str:
    drift = result.get("drift") or {}
    rows = ""
    for f in drift.get("features", []) + ([drift["score"]] if drift.get("score") else []):
        tests = ", ".join(
            f"{t['test']} p={t['p_value']:.2g} effect={t['effect']:.3f}"
            + (" DRIFT" if t["drifted"] else "")
            for t in f["tests"]
        )
        rows += (
            f"<tr><td>{escape(f['feature'])}</td><td>{'yes' if f['drifted'] else ''}</td>"
            f"<td>{f['psi']:.4f}</td><td>{escape(tests)}</td><td>{escape(f.get('how', ''))}</td></tr>"
        )
    decay = result.get("decay") or {}
    return (
        "<html><head><meta charset='utf-8'><title>Monitoring report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:3px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Monitoring: {escape(str(result.get('dataset')))} v{result.get('model_version')}</h1>"
        f"<p>Status <b>{escape(str(result.get('status')))}</b>, {result.get('rows', 0)} rows, window "
        f"{escape(json.dumps(result.get('window')))}</p>"
        + (f"<h2>Decay</h2><pre>{escape(json.dumps(decay, indent=1))}</pre>" if decay else "")
        + "<h2>Features</h2><table><tr><th>feature</th><th>drifted</th><th>PSI</th><th>tests</th><th>how</th></tr>"
        f"{rows}</table></body></html>"
    )
