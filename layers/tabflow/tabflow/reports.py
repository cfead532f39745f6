"""Rendering of validation reports (the JSON document is the source; HTML is a view of it)."""

import json
from html import escape
from typing import Any

from tabflow import multiclass_report as multiclass
from tabflow.evaluation.summary import label_text
from tabflow.regression_report import interval_html, interval_markdown


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


def _svg_lines(
    series: list[tuple[str, list[float], list[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
) -> str:
    """A small line chart as inline SVG (no plotting library in the Lambda package)."""
    w, h, pad = 260, 220, 30
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    def pt(x: float, y: float) -> str:
        return f"{pad + x * (w - 2 * pad):.1f},{h - pad - y * (h - 2 * pad):.1f}"

    body = f"<rect x='{pad}' y='{pad}' width='{w - 2 * pad}' height='{h - 2 * pad}' fill='none' stroke='#999'/>"
    if diagonal:
        body += f"<line x1='{pad}' y1='{h - pad}' x2='{w - pad}' y2='{pad}' stroke='#ccc' stroke-dasharray='3'/>"
    legend = ""
    for i, (name, xs, ys) in enumerate(series):
        pts = " ".join(
            pt(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None
        )
        colour = colours[i % len(colours)]
        body += f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{pts}'/>"
        legend += f"<text x='{pad + 4}' y='{pad + 12 + 12 * i}' font-size='10' fill='{colour}'>{escape(name)}</text>"
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}'>"
        f"<text x='{w / 2}' y='14' font-size='12' text-anchor='middle'>{escape(title)}</text>{body}{legend}"
        f"<text x='{w / 2}' y='{h - 6}' font-size='10' text-anchor='middle'>{escape(xlabel)}</text>"
        f"<text x='10' y='{h / 2}' font-size='10' transform='rotate(-90 10 {h / 2})' text-anchor='middle'>"
        f"{escape(ylabel)}</text></svg>"
    )


def _svg_bars(values: dict[str, float], *, title: str) -> str:
    items = sorted(values.items(), key=lambda kv: -kv[1])[:15]
    top = max((v for _, v in items), default=1.0) or 1.0
    h = 24 + 16 * len(items)
    bars = "".join(
        f"<text x='150' y='{30 + 16 * i}' font-size='10' text-anchor='end'>{escape(k)}</text>"
        f"<rect x='155' y='{21 + 16 * i}' width='{200 * v / top:.1f}' height='11' fill='#1f77b4'/>"
        f"<text x='{160 + 200 * v / top:.1f}' y='{30 + 16 * i}' font-size='9'>{v:.3g}</text>"
        for i, (k, v) in enumerate(items)
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='420' height='{h}'>"
        f"<text x='210' y='14' font-size='12' text-anchor='middle'>{escape(title)}</text>{bars}</svg>"
    )


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


def _gates_html(ev: dict[str, Any]) -> str:
    gates = "".join(
        f"<tr><td>{escape(g['name'])}</td><td style='color:{'green' if g['passed'] else 'red'}'>"
        f"{'pass' if g['passed'] else 'FAIL'}</td><td>{g['value']}</td><td>{g['threshold']}</td>"
        f"<td>{escape(_interval(g))}</td><td>{escape(g['detail'])}</td></tr>"
        for g in ev["decision"]["gates"]
    )
    return (
        f"<h2>Gates</h2><p>{escape(_passed_over(ev))}</p><table><tr><th>gate</th><th>verdict</th>"
        f"<th>value</th><th>threshold</th><th>95% interval</th><th>detail</th></tr>{gates}</table>"
    )


def _head(ev: dict[str, Any]) -> str:
    verdict = "PROMOTE" if ev["decision"]["promote"] else "REJECT"
    return (
        "<html><head><meta charset='utf-8'><title>Evaluation report</title><style>body{font-family:sans-serif}"
        "td,th{border:1px solid #ccc;padding:3px 6px}table{border-collapse:collapse}</style></head><body>"
        f"<h1>{escape(ev['dataset'])} - run {escape(ev['run_id'])}: {verdict}</h1>"
    )


def _multiclass_html(ev: dict[str, Any]) -> str:
    """Metrics, class balance, gates, the per-class table, the confusion matrix, slices and
    what the models use."""
    return (
        f"{_head(ev)}<p>Multiclass; chosen on validation rows: <b>{escape(ev['chosen'])}</b>. "
        f"Split: {escape(str(ev.get('split')))}; rows {escape(json.dumps(ev.get('rows')))}; the "
        f"test rows were scored once.</p>{multiclass.metrics_html(ev)}"
        f"{multiclass.balance_html(ev.get('labels'))}{_gates_html(ev)}"
        f"{multiclass.multiclass_sections(ev)}"
        f"<h2>What the models use</h2>{_svg_bars(ev.get('importance', {}), title='LightGBM gain share')}"
        f"{_svg_bars(ev.get('shap_mean_abs', {}), title='mean |contribution| (SHAP)')}</body></html>"
    )


def evaluation_html(ev: dict[str, Any]) -> str:
    """The evaluation report: metrics, gates, ROC, PR, calibration, confusion matrix,
    importance, SHAP summary and the slice table."""
    if ev.get("task") == "regression":
        return _regression_html(ev)
    if ev.get("task") == "multiclass":
        return _multiclass_html(ev)
    curves = ev["curves"]
    roc = _svg_lines(
        [(n, c["fpr"], c["tpr"]) for n, c in curves.items()],
        title="ROC",
        xlabel="false positive rate",
        ylabel="true positive rate",
        diagonal=True,
    )
    pr = _svg_lines(
        [(n, c["recall"], c["precision"]) for n, c in curves.items()],
        title="Precision-recall",
        xlabel="recall",
        ylabel="precision",
    )
    cal = _svg_lines(
        [(n, c["predicted"], c["observed"]) for n, c in curves.items()],
        title="Calibration",
        xlabel="predicted probability",
        ylabel="observed rate",
        diagonal=True,
    )
    chosen = ev["chosen"]
    cm = ev["candidates"][chosen]["confusion_matrix"]
    metric_keys = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold")
    metrics = "".join(
        f"<tr><th>{escape(n)}{' (chosen)' if n == chosen else ''}</th>"
        + "".join(f"<td>{m.get(k)}</td>" for k in metric_keys)
        + "</tr>"
        for n, m in ev["candidates"].items()
    )
    if ev.get("champion") and ev["champion"].get("comparable"):
        c = ev["champion"]
        metrics += (
            f"<tr><th>champion v{c['version']}</th><td>{c['auc']}</td><td>{c['pr_auc']}</td></tr>"
        )
    slices = "".join(
        f"<tr><td>{escape(col)}</td><td>{escape(group)}</td><td>{v.get('rows')}</td><td>{v.get('positives')}</td>"
        f"<td>{v.get('auc')}</td></tr>"
        for col, groups in (ev.get("slices") or {}).items()
        if "error" not in groups
        for group, v in groups.items()
    )
    thresholds = "".join(
        f"<li>{escape(n)}: {t['value']} ({escape(t['reason'])}; calibration {t['calibration']})</li>"
        for n, t in ev.get("thresholds", {}).items()
    )
    verdict = "PROMOTE" if ev["decision"]["promote"] else "REJECT"
    return (
        "<html><head><meta charset='utf-8'><title>Evaluation report</title><style>body{font-family:sans-serif}"
        "td,th{border:1px solid #ccc;padding:3px 6px}table{border-collapse:collapse}</style></head><body>"
        f"<h1>{escape(ev['dataset'])} - run {escape(ev['run_id'])}: {verdict}</h1>"
        f"<p>Chosen on validation rows: <b>{escape(chosen)}</b>. Split: {escape(str(ev.get('split')))}; rows "
        f"{escape(json.dumps(ev.get('rows')))}; the test rows were scored once.</p>{_labels_html(ev)}"
        f"<h2>Held-out metrics</h2><table><tr><th></th>{''.join(f'<th>{k}</th>' for k in metric_keys)}</tr>{metrics}"
        f"</table><ul>{thresholds}</ul>"
        f"{_gates_html(ev)}<h2>Curves</h2>{roc}{pr}{cal}"
        f"<h2>Confusion matrix at {ev['candidates'][chosen]['threshold']}</h2><table><tr><th></th><th>predicted no"
        f"</th><th>predicted yes</th></tr><tr><th>actual no</th><td>{cm['tn']}</td><td>{cm['fp']}</td></tr>"
        f"<tr><th>actual yes</th><td>{cm['fn']}</td><td>{cm['tp']}</td></tr></table>"
        f"<h2>What the models use</h2>{_svg_bars(ev.get('importance', {}), title='LightGBM gain share')}"
        f"{_svg_bars(ev.get('shap_mean_abs', {}), title=f'{chosen}: mean |contribution| (SHAP, log-odds)')}"
        + (
            f"<h2>Slices</h2><table><tr><th>column</th><th>group</th><th>rows</th><th>positives</th><th>AUC</th></tr>"
            f"{slices}</table>"
            if slices
            else ""
        )
        + "</body></html>"
    )


def _labels_html(ev: dict[str, Any]) -> str:
    if not ev.get("labels"):
        return ""
    classes, served = label_text(ev["labels"])
    return (
        f"<p>Training labels: {escape(classes)}. Mean served score on the test rows: "
        f"{escape(served)}; for a calibrated model the two are close.</p>"
    )


def _regression_html(ev: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(n)}{' (chosen)' if n == ev['chosen'] else ''}</th><td>{m.get('rmse')}</td>"
        f"<td>{m.get('mae')}</td><td>{m.get('r2')}</td></tr>"
        for n, m in ev["candidates"].items()
    )
    gates = "".join(
        f"<tr><td>{escape(g['name'])}</td><td>{'pass' if g['passed'] else 'FAIL'}</td><td>{g['value']}</td>"
        f"<td>{g['threshold']}</td><td>{escape(_interval(g))}</td><td>{escape(g['detail'])}</td></tr>"
        for g in ev["decision"]["gates"]
    )
    verdict = "PROMOTE" if ev["decision"]["promote"] else "REJECT"
    return (
        "<html><head><meta charset='utf-8'><title>Evaluation report</title><style>body{font-family:sans-serif}"
        "td,th{border:1px solid #ccc;padding:3px 6px}table{border-collapse:collapse}</style></head><body>"
        f"<h1>{escape(ev['dataset'])} - run {escape(ev['run_id'])}: {verdict}</h1>"
        f"<p>Regression; split {escape(str(ev.get('split')))}; rows {escape(json.dumps(ev.get('rows')))}.</p>"
        f"<h2>Held-out metrics</h2><table><tr><th></th><th>RMSE</th><th>MAE</th><th>R2</th></tr>{rows}</table>"
        f"<h2>Gates</h2><p>{escape(_passed_over(ev))}</p><table>{gates}</table>"
        f"{interval_html(ev)}"
        f"<h2>What the models use</h2>{_svg_bars(ev.get('importance', {}), title='LightGBM gain share')}"
        f"{_svg_bars(ev.get('shap_mean_abs', {}), title='mean |contribution| (SHAP)')}</body></html>"
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
