"""Rendering of validation reports (the JSON document is the source; HTML is a view of it)."""

import json
from typing import Any

from tabflow import multiclass_report as multiclass
from tabflow.evaluation.summary import label_text
from tabflow.regression_report import interval_markdown
from tabflow.rendering import render


def validation_html(report: dict[str, Any]) -> str:
    """The validation report of a file: counts, problems, warnings, renamed headers, where the
    file's parts went, who was emailed, and each column's summary."""
    where = [
        (k, str(report[k]))
        for k in ("quarantine_uri", "duplicates_uri", "curated_uri", "sha256")
        if report.get(k)
    ]
    mail = [
        (label, ", ".join(str(a) for a in report[k]))
        for k, label in (("emailed_to", "emailed to"), ("not_emailed_to", "not emailed to"))
        if report.get(k)
    ]
    columns = []
    for name, c in (report.get("columns") or {}).items():
        examples = "; ".join(
            f"{e['value']!r}: {e['reason']}" for e in c.get("invalid_examples", [])
        )
        stats = {k: c[k] for k in ("min", "max", "mean", "p50") if k in c}
        summary = json.dumps(stats or c.get("top_values", {}))
        columns.append((name, c.get("missing", 0), c.get("invalid", 0), examples, summary))
    return render("validation.html.j2", report=report, where=where, mail=mail, columns=columns)


def monitoring_html(result: dict[str, Any]) -> str:
    """The monitor's report: status, window, decay and each feature's drift tests (and the
    score's: for a multiclass champion the predicted class shares and each class's
    probability)."""
    drift = result.get("drift") or {}
    features = (
        drift.get("features", [])
        + ([drift["score"]] if drift.get("score") else [])
        + drift.get("class_scores", [])
    )
    return render(
        "monitoring.html.j2", result=result, decay=result.get("decay") or {}, features=features
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
