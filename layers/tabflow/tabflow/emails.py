"""Rendering of the emails the pipeline sends. Computing happens elsewhere; these functions
only turn results into a subject, a plain-text body and an HTML body (the templates
email.html.j2 and drift_alert.html.j2, which escape every value)."""

import unicodedata
from typing import Any

from tabflow import multiclass_report as multiclass
from tabflow.evaluation.summary import (
    BINARY_SUMMARY,
    INTERVAL_SUMMARY,
    REGRESSION_SUMMARY,
    label_text,
)
from tabflow.ports import Email
from tabflow.rendering import render
from tabflow.workflow.payloads import Evaluation, Promotion

SUBJECT_LIMIT = 200
PROBLEM_LIMIT = 2000


def header_text(value: object, limit: int = SUBJECT_LIMIT) -> str:
    """A value fit for an email header: one line, no control or invisible formatting
    characters, at most ``limit`` characters. Every header built from user input (a YAML
    error, a file or dataset name, an address) goes through here, so none can carry a line
    break (header injection) or a right-to-left override."""
    text = str(value)[: limit * 4]
    kept = []
    for char in text:
        kind = unicodedata.category(char)
        if kind in ("Cc", "Zl", "Zp") or char.isspace():
            kept.append(" ")
        elif kind not in ("Cf", "Cs", "Co", "Cn"):
            kept.append(char)
    text = " ".join("".join(kept).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _bounded(text: str, limit: int = PROBLEM_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _email(subject: str, intro: str, rows: list[tuple[str, Any]], footer: str = "") -> Email:
    text = "\n".join(
        [intro, ""] + [f"{k}: {v}" for k, v in rows] + ([f"\n{footer}"] if footer else [])
    )
    html = render("email.html.j2", subject=subject, intro=intro, rows=rows, footer=footer)
    return Email(subject=subject, text=text, html=html)


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    if "per_class_recall" in metrics:  # multiclass: AUC is the macro one-vs-rest mean
        return multiclass.summary_rows(metrics)
    keys = dict.fromkeys(
        (*BINARY_SUMMARY, *REGRESSION_SUMMARY, *INTERVAL_SUMMARY)
    )  # ordered, without the repeated "rows"
    return [(k, metrics.get(k)) for k in keys if k in metrics]


def _metric_and_gate_rows(
    metrics: dict[str, Any], gates: list[dict[str, Any]]
) -> list[tuple[str, Any]]:
    rows = _metric_rows(metrics)
    rows += [
        (f"gate {g['name']}", f"{'pass' if g['passed'] else 'FAIL'}: {g['detail']}") for g in gates
    ]
    return rows


def _label_rows(labels: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not labels:
        return []
    classes, served = label_text(labels)
    if "mean_probability" in labels:  # multiclass
        return [("training classes", classes), ("mean served probability", served)]
    return [("training labels", classes), ("mean served score", served)]


def model_promoted(dataset: str, evaluation: Evaluation, promotion: Promotion) -> Email:
    """``promotion.previous_version``: the champion this one replaces (None: the dataset's
    first); ``evaluation.passed_over``: the candidate chosen on validation rows when it failed
    and this one won."""
    version, winner, previous = promotion.version, evaluation.winner, promotion.previous_version
    run_id = promotion.run_id
    rows = [("dataset", dataset), ("version", f"v{version}"), ("model", winner), ("run", run_id)]
    rows.append(("replaces", f"v{previous}" if previous else "nothing (first)"))
    if evaluation.passed_over:
        passed_over = evaluation.passed_over
        failed = ", ".join(passed_over["failed"])
        rows.append(("passed over", f"{passed_over['candidate']} (failed: {failed})"))
    rows += _label_rows(evaluation.labels)
    rows += _metric_and_gate_rows(evaluation.metrics, evaluation.gates)
    rows += [
        ("model files", promotion.model_uri),
        ("evaluation report", promotion.report_uri),
        ("model card", promotion.model_card_uri),
    ]
    serves = (
        f"replaces v{previous} and now serves predictions."
        if previous
        else "is its first champion and now serves predictions."
    )
    return _email(
        f"[tabflow] {dataset}: model v{version} ({winner}) promoted to champion",
        f"Model v{version} ({winner}) for {dataset} passed every gate, {serves}",
        [r for r in rows if r[1] != ""],
    )


def model_rejected(dataset: str, run_id: str, evaluation: Evaluation) -> Email:
    """``evaluation.champion_version``: the champion that keeps serving, or None when there is
    none."""
    champion = evaluation.champion_version
    rows = [("dataset", dataset), ("best candidate", evaluation.winner), ("run", run_id)]
    rows.append(("serving", f"v{champion}" if champion else "no model"))
    rows += _label_rows(evaluation.labels)
    rows += _metric_and_gate_rows(evaluation.metrics, evaluation.gates)
    rows += [
        ("evaluation", evaluation.evaluation_uri),
        ("evaluation report", evaluation.report_uri),
    ]
    names = ", ".join(g["name"] for g in evaluation.gates if not g["passed"]) or "none"
    serving = (
        f"champion v{champion} keeps serving."
        if champion
        else "there is no champion yet, so the prediction API has no model for it "
        "(404) until a candidate passes."
    )
    return _email(
        f"[tabflow] {dataset}: candidate rejected (failed gates: {names})",
        f"No model was promoted for {dataset}; {serving}",
        [r for r in rows if r[1] != ""],
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
    not_sent_to: list[str] | None = None,
) -> Email:
    """``not_sent_to``: recipients of the contract's notify list that the recipient policy
    dropped (named here so that the allowed recipients learn about them)."""
    rows = [("dataset", dataset), ("file", file_uri)]
    rows += [("problem", _bounded(p)) for p in problems[:20]]
    if len(problems) > 20:
        rows.append(("more problems", f"{len(problems) - 20} more in the validation report"))
    if counts:
        rows += list(counts.items())
    rows.append(("validation report", report_uri))
    rows += [("not sent to", d) for d in not_sent_to or []]
    first = problems[0].strip().splitlines()[0] if problems and problems[0].strip() else "invalid"
    return _email(
        header_text(f"[tabflow] {dataset}: file rejected - {first}"),
        "The file was not used. It is kept unchanged where it was uploaded.",
        rows,
        "Fix the file or the contract and upload again.",
    )


def drift_alert(
    dataset: str,
    version: int,
    moved: list[dict[str, Any]],
    rows: int,
    report_uri: str,
    unused: list[dict[str, Any]] | None = None,
) -> Email:
    """``moved``: the check results (drift.FeatureCheck.to_dict()) of the features that entered
    drift; ``unused``: features in drift that the model gives no importance (reported only)."""
    unused = unused or []
    names = ", ".join(f["feature"] for f in moved)
    subject = f"[tabflow] {dataset}: input drift in {names}"
    intro = (
        f"Live inputs to {dataset} (model v{version}) no longer look like the training data: "
        f"{len(moved)} feature(s) moved in a window of {rows} rows."
    )
    text_lines = [intro, ""] + [
        f"- {f['feature']}: {f['how']} (importance {f.get('importance', 0):.0%})" for f in moved
    ]
    if unused:
        text_lines += ["", "Also moved, but the model does not use them (no alert on their own):"]
        text_lines += [f"- {f['feature']}: {f['how']}" for f in unused]
    text_lines += [
        "",
        "This alert is sent once when a feature enters drift; it is not repeated while the "
        "change stays.",
        f"Full report: {report_uri}",
        "Check the upstream data; retrain if the change is real and lasting.",
    ]
    html = render(
        "drift_alert.html.j2",
        subject=subject,
        intro=intro,
        moved=moved,
        unused=unused,
        report_uri=report_uri,
    )
    return Email(subject=subject, text="\n".join(text_lines), html=html)


def _coverage(c: dict[str, Any]) -> str:
    return (
        f"{c['coverage']:.1%} [{c['low']:.1%}, {c['high']:.1%}] vs declared "
        f"{c['declared']:.0%} (at test {c['test_coverage']})"
    )


def _unresolved_labels(decay: dict[str, Any]) -> list[tuple[str, Any]]:
    """Label values that are neither class: counted, named, and left out of the figures."""
    labels = decay.get("labels") or {}
    if not labels.get("unresolved"):
        return []
    return [("labels not understood (left out)", labels.get("unresolved_values", ""))]


def decay_alert(dataset: str, version: int, decay: dict[str, Any], report_uri: str) -> Email:
    if "per_class" in decay:  # multiclass: the macro AUC, each class's recall
        rows = [("dataset", dataset), ("model", f"v{version}"), *multiclass.decay_rows(decay),
                *_unresolved_labels(decay), ("report", report_uri)]  # fmt: skip
        return _email(
            f"[tabflow] {dataset}: model v{version} performance decayed (macro AUC "
            f"{decay['auc']:.3f} vs {decay['test_auc']:.3f} at test)",
            "Delayed labels show the champion predicting worse than when it was promoted.",
            rows,
            "Retrain on recent data, or roll back if a recent change caused it.",
        )
    if "rmse" in decay:  # regression
        rows = [
            ("dataset", dataset),
            ("model", f"v{version}"),
            ("labelled predictions", decay["labelled"]),
            ("RMSE now", f"{decay['rmse']:.4g}"),
            ("RMSE at test", f"{decay['test_rmse']:.4g}"),
            ("tolerance", decay["tolerance"]),
            *(
                [("interval coverage now", _coverage(decay["coverage"]))]
                if decay.get("coverage")
                else []
            ),
            *_unresolved_labels(decay),
            ("report", report_uri),
        ]
        return _email(
            f"[tabflow] {dataset}: model v{version} performance decayed (RMSE {decay['rmse']:.4g} vs "
            f"{decay['test_rmse']:.4g} at test)",
            "Delayed labels show the champion predicting worse than when it was promoted.",
            rows,
            "Retrain on recent data, or roll back if a recent change caused it.",
        )
    rows = [
        ("dataset", dataset),
        ("model", f"v{version}"),
        ("labelled predictions", decay["labelled"]),
        ("AUC now", f"{decay['auc']:.3f}"),
        *(
            [("AUC upper bound", f"{decay['auc_high']:.3f}")]
            if decay.get("auc_high") is not None
            else []
        ),
        ("AUC at test", f"{decay['test_auc']:.3f}"),
        ("tolerance", decay["tolerance"]),
        ("precision", f"{decay['precision']:.3f}"),
        ("recall", f"{decay['recall']:.3f}"),
        ("Brier", f"{decay['brier']:.3f}"),
        ("calibration error", f"{decay['ece']:.3f}"),
        *_unresolved_labels(decay),
        ("report", report_uri),
    ]
    return _email(
        f"[tabflow] {dataset}: model v{version} performance decayed (AUC {decay['auc']:.3f} vs "
        f"{decay['test_auc']:.3f} at test)",
        "Delayed labels show the champion predicting worse than when it was promoted.",
        rows,
        "Retrain on recent data, or roll back if a recent change caused it.",
    )


def model_load_failed(
    dataset: str, new_version: int, serving_version: int | None, error: str
) -> Email:
    """The champion does not load: what serves instead (None: nothing, the API answers 503)."""
    serving = f"v{serving_version}" if serving_version is not None else "nothing (503)"
    rows = [
        ("dataset", dataset),
        ("champion", f"v{new_version}"),
        ("serving", serving),
        ("error", error[:2000]),
    ]
    if serving_version is None:
        subject = f"[tabflow] {dataset}: champion v{new_version} failed to load; no version loads"
        intro = (
            "No registered version of this dataset loads: the prediction API answers 503 "
            "and batch scoring rejects files until a version that loads is the champion."
        )
    else:
        subject = (
            f"[tabflow] {dataset}: champion v{new_version} failed to load; "
            f"v{serving_version} keeps serving"
        )
        intro = (
            f"The champion could not be loaded and verified; v{serving_version} serves instead "
            "(responses carry an X-Model-Fallback header)."
        )
    return _email(
        subject,
        intro,
        rows,
        "Check the model files and their sha256 in the registry; promote again or roll back "
        "(registry rollback refuses a version that does not load).",
    )
