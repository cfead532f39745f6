"""Rendering of the emails the pipeline sends. Computing happens elsewhere; these functions
only turn results into a subject, a plain-text body and an HTML body."""

from html import escape
from typing import Any

from tabflow.ports import Email


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left;padding:2px 8px'>{escape(str(k))}</th>"
        f"<td style='padding:2px 8px'>{escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table style='border-collapse:collapse;font-family:sans-serif'>{cells}</table>"


def _email(subject: str, intro: str, rows: list[tuple[str, Any]], footer: str = "") -> Email:
    text = "\n".join(
        [intro, ""] + [f"{k}: {v}" for k, v in rows] + ([f"\n{footer}"] if footer else [])
    )
    html = (
        f"<html><body><h2 style='font-family:sans-serif'>{escape(subject)}</h2>"
        f"<p style='font-family:sans-serif'>{escape(intro)}</p>{_table(rows)}"
        + (f"<p style='font-family:sans-serif'>{escape(footer)}</p>" if footer else "")
        + "</body></html>"
    )
    return Email(subject=subject, text=text, html=html)


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = ("auc", "pr_auc", "precision", "recall", "f1", "threshold", "rows")
    return [(k, metrics.get(k)) for k in keys if k in metrics]


def model_promoted(
    dataset: str,
    version: int,
    winner: str,
    metrics: dict[str, Any],
    gates: list[dict[str, Any]],
    model_uri: str,
    run_id: str,
) -> Email:
    rows = [("dataset", dataset), ("version", f"v{version}"), ("model", winner), ("run", run_id)]
    rows += _metric_rows(metrics)
    rows += [
        (f"gate {g['name']}", f"{'pass' if g['passed'] else 'FAIL'}: {g['detail']}") for g in gates
    ]
    rows.append(("model files", model_uri))
    return _email(
        f"[tabflow] {dataset}: model v{version} ({winner}) promoted to champion",
        f"A new champion for {dataset} passed every gate and now serves predictions.",
        rows,
    )


def model_rejected(
    dataset: str,
    winner: str,
    metrics: dict[str, Any],
    gates: list[dict[str, Any]],
    run_id: str,
    evaluation_uri: str,
) -> Email:
    failed = [g for g in gates if not g["passed"]]
    rows = [("dataset", dataset), ("best candidate", winner), ("run", run_id)]
    rows += _metric_rows(metrics)
    rows += [
        (f"gate {g['name']}", f"{'pass' if g['passed'] else 'FAIL'}: {g['detail']}") for g in gates
    ]
    rows.append(("evaluation", evaluation_uri))
    names = ", ".join(g["name"] for g in failed) or "none"
    return _email(
        f"[tabflow] {dataset}: candidate rejected (failed gates: {names})",
        f"No model was promoted for {dataset}; the current champion keeps serving.",
        rows,
    )


def run_failed(dataset: str, run_id: str, step: str, error: str, cause: str) -> Email:
    rows = [
        ("dataset", dataset),
        ("run", run_id),
        ("failed step", step),
        ("error", error),
        ("cause", cause[:2000]),
    ]
    return _email(
        f"[tabflow] {dataset}: training run failed at {step}",
        "The training workflow failed; the champion is unchanged.",
        rows,
    )


def file_rejected(
    dataset: str,
    file_uri: str,
    problems: list[str],
    report_uri: str,
    counts: dict[str, int] | None = None,
) -> Email:
    rows = [("dataset", dataset), ("file", file_uri)]
    rows += [("problem", p) for p in problems[:20]]
    if counts:
        rows += list(counts.items())
    rows.append(("validation report", report_uri))
    return _email(
        f"[tabflow] {dataset}: file rejected - {problems[0] if problems else 'invalid'}",
        "The file was not used for training. It is kept unchanged where it was uploaded.",
        rows,
        "Fix the file or the contract and upload again.",
    )


def drift_alert(
    dataset: str,
    version: int,
    drifted: list[dict[str, Any]],
    rows: int,
    threshold: float,
    report_uri: str,
) -> Email:
    names = ", ".join(d["feature"] for d in drifted)
    table = [
        ("dataset", dataset),
        ("model", f"v{version}"),
        ("rows checked", rows),
        ("PSI threshold", threshold),
    ]
    table += [(f"drift {d['feature']}", f"PSI {d['psi']:.3f}") for d in drifted]
    table.append(("report", report_uri))
    return _email(
        f"[tabflow] {dataset}: input drift in {names}",
        f"Live inputs to {dataset} no longer look like the training data.",
        table,
        "Check the upstream data; retrain if the change is real and lasting.",
    )
