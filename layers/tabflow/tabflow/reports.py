"""Rendering of validation reports (the JSON document is the source; HTML is a view of it)."""

import json
from html import escape
from typing import Any

from tabflow import multiclass_report as multiclass
from tabflow.evaluation.summary import label_text
from tabflow.regression_report import interval_markdown
from tabflow.rendering import render


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
    mail = "".join(
        f"<li>{label}: {escape(', '.join(str(a) for a in report[k]))}</li>"
        for k, label in (("emailed_to", "emailed to"), ("not_emailed_to", "not emailed to"))
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
        + (f"<h2>Email</h2><ul>{mail}</ul>" if mail else "")
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


def _points(xs: list[float], ys: list[float]) -> str:
    """A curve's points in the 260 x 220 chart of charts.html.j2 (axes from 0 to 1)."""
    w, h, pad = 260, 220, 30
    return " ".join(
        f"{pad + x * (w - 2 * pad):.1f},{h - pad - y * (h - 2 * pad):.1f}"
        for x, y in zip(xs, ys, strict=False)
        if x is not None and y is not None
    )


def _top(values: dict[str, float]) -> list[tuple[str, float]]:
    """The (at most 15) largest values of a bar chart, largest first."""
    return sorted(values.items(), key=lambda kv: -kv[1])[:15]


def _interval(g: dict[str, Any]) -> str:
    """A gate's confidence interval as text (of its value, or of the difference it judges)."""
    iv = g.get("interval")
    if not iv:
        return ""
    return f"{iv['point']:.4g} [{iv['low']:.4g}, {iv['high']:.4g}] ({iv['method']})"


def _passed_over(ev: dict[str, Any]) -> str:
    over = ev["decision"].get("passed_over")
    if not over:
        return ""
    return (
        f"{over['candidate']} was chosen on validation rows but failed "
        f"{', '.join(over['failed'])}; {ev['decision']['winner']} passed every gate."
    )


METRIC_KEYS = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold")


def evaluation_html(ev: dict[str, Any]) -> str:
    """The evaluation report: metrics, gates, ROC, PR, calibration, confusion matrix,
    importance, SHAP summary and the slice table (binary); the regression and multiclass
    reports have their own sections. The templates escape every value."""
    context: dict[str, Any] = {
        "ev": ev,
        "verdict": "PROMOTE" if ev["decision"]["promote"] else "REJECT",
        "passed_over": _passed_over(ev),
        "interval": _interval,
        "importance": _top(ev.get("importance", {})),
        "shap": _top(ev.get("shap_mean_abs", {})),
    }
    if ev.get("task") == "regression":
        return render("evaluation_regression.html.j2", **context)
    if ev.get("task") == "multiclass":
        return render("evaluation_multiclass.html.j2", metrics=multiclass.METRICS, **context)
    curves = ev["curves"]
    lines = {
        "roc": [(n, _points(c["fpr"], c["tpr"])) for n, c in curves.items()],
        "pr": [(n, _points(c["recall"], c["precision"])) for n, c in curves.items()],
        "calibration": [(n, _points(c["predicted"], c["observed"])) for n, c in curves.items()],
    }
    labels = label_text(ev["labels"]) if ev.get("labels") else None
    return render(
        "evaluation_binary.html.j2",
        curves=lines,
        labels=labels,
        metric_keys=METRIC_KEYS,
        **context,
    )


def model_card(ev: dict[str, Any], contract: Any) -> str:
    chosen = ev["chosen"]
    if ev.get("task") == "regression":
        m = ev["candidates"][chosen]
        base = ev["candidates"].get("baseline", {})
        gates = "\n".join(
            f"| {g['name']} | {'pass' if g['passed'] else 'FAIL'} | {g['value']} | {g['threshold']} "
            f"| {_interval(g)} |"
            for g in ev["decision"]["gates"]
        )
        return (
            f"# Model card: {ev['dataset']} ({chosen})\n\nRegression of `{contract.target.column}`; run "
            f"{ev['run_id']}; split {ev.get('split')}.\n\n## Held-out performance\nRMSE {m['rmse']}, MAE "
            f"{m['mae']}, R2 {m['r2']} (baseline {base.get('name')}: RMSE {base.get('rmse')}, R2 "
            f"{base.get('r2')}).\n\n{interval_markdown(ev)}\n\n## Gates\n{_passed_over(ev)}\n\n| gate | verdict | value | threshold | 95% interval |\n"
            "| --- | --- | --- | --- | --- |\n"
            f"{gates}\n"
        )
    m = ev["candidates"][chosen]
    gates = "\n".join(
        f"| {g['name']} | {'pass' if g['passed'] else 'FAIL'} | {g['value']} | {g['threshold']} "
        f"| {_interval(g)} |"
        for g in ev["decision"]["gates"]
    )
    if ev.get("task") == "multiclass":
        return multiclass.multiclass_card(ev, contract, gates, _passed_over(ev))
    top = ", ".join(list(ev.get("importance", {}))[:5])
    return f"""# Model card: {ev["dataset"]} ({chosen})

**Run** {ev["run_id"]} - **decision** {"promoted" if ev["decision"]["promote"] else "rejected"}

## Intended use
{contract.description or "Predicts " + contract.target.column}. Binary classification of
`{contract.target.column}` (positive: `{contract.target.positive_label}`), decision threshold
{m["threshold"]} ({ev["thresholds"][chosen]["reason"]}).

## Data
Split: {ev.get("split")}; rows {ev.get("rows")}; held-out positives {ev.get("test_positives")}.
Features: {len(ev.get("shap_mean_abs", {}))}; the most used: {top}.

## Held-out performance
AUC {m["auc"]}, PR-AUC {m["pr_auc"]}, precision {m["precision"]}, recall {m["recall"]}, F1 {m["f1"]},
Brier {m["brier"]}, expected calibration error {m["ece"]} (calibration: {ev["thresholds"][chosen]["calibration"]}).

## Gates
{_passed_over(ev)}

| gate | verdict | value | threshold | 95% interval |
| --- | --- | --- | --- | --- |
{gates}

## Limitations
Trained on the data of one upload; performance on groups not declared as slices is not
measured. Drift and decay are watched by the monitor; retrain when they are confirmed.
"""
