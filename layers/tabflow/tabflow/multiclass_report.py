"""The multiclass parts of the evaluation report and the model card: macro and weighted
one-vs-rest AUC, log loss, accuracy, the per-class table, the confusion matrix and the class
balance (training and test rows beside the mean served probability). Rendering only: the
figures come from the evaluation document. Class labels are user data: always escaped."""

from html import escape
from typing import Any

from tabflow.evaluation.summary import MULTICLASS_SUMMARY

METRICS = (
    ("auc", "macro AUC"),
    ("weighted_auc", "weighted AUC"),
    ("log_loss", "log loss"),
    ("accuracy", "accuracy"),
    ("brier", "Brier"),
    ("ece", "top-class calibration error"),
)


def _cell(v: Any) -> str:
    return "" if v is None else escape(str(v))


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else ""


def metrics_html(ev: dict[str, Any]) -> str:
    """Each candidate's held-out metrics (and the champion's, when it read the test rows)."""
    head = "".join(f"<th>{name}</th>" for _, name in METRICS)
    rows = "".join(
        f"<tr><th>{escape(n)}{' (chosen)' if n == ev['chosen'] else ''}</th>"
        + "".join(f"<td>{_cell(m.get(k))}</td>" for k, _ in METRICS)
        + "</tr>"
        for n, m in ev["candidates"].items()
    )
    champion = ev.get("champion") or {}
    if champion.get("comparable"):
        rows += f"<tr><th>champion v{_cell(champion.get('version'))}</th>" + "".join(
            f"<td>{_cell(champion.get(k))}</td>" for k, _ in METRICS
        ) + "</tr>"  # fmt: skip
    elif champion:
        rows += (
            f"<tr><th>champion v{_cell(champion.get('version'))}</th>"
            f"<td colspan='{len(METRICS)}'>not comparable: {_cell(champion.get('reason'))}</td></tr>"
        )
    how = "".join(
        f"<li>{escape(n)}: {escape(str(t.get('reason', '')))}; calibration "
        f"{escape(str(t.get('calibration', '')))}</li>"
        for n, t in (ev.get("thresholds") or {}).items()
    )
    return (
        f"<h2>Held-out metrics</h2><table><tr><th></th>{head}</tr>{rows}</table>"
        "<p>AUC is one-vs-rest per class: macro is their plain mean (what the gates read), "
        "weighted is their mean weighted by the class's test rows.</p>"
        + (f"<p>Predicted class:</p><ul>{how}</ul>" if how else "")
    )


def per_class_html(m: dict[str, Any]) -> str:
    """The chosen model's precision, recall and one-vs-rest AUC for each class."""
    rows = "".join(
        f"<tr><td>{escape(str(label))}</td><td>{_cell(c.get('rows'))}</td>"
        f"<td>{_cell(c.get('precision'))}</td><td>{_cell(c.get('recall'))}</td>"
        f"<td>{_cell(c.get('auc'))}</td></tr>"
        for label, c in (m.get("per_class") or {}).items()
    )
    return (
        "<h2>By class (chosen model, test rows)</h2><table><tr><th>class</th><th>rows</th>"
        f"<th>precision</th><th>recall</th><th>AUC (one-vs-rest)</th></tr>{rows}</table>"
    )


def confusion_html(cm: dict[str, Any]) -> str:
    """Rows: the true class; columns: the predicted (most probable) class; the diagonal is
    what the model got right."""
    labels = [escape(str(c)) for c in cm.get("labels", [])]
    head = "".join(f"<th>{c}</th>" for c in labels)
    body = ""
    for i, (label, counts) in enumerate(zip(labels, cm.get("counts", []), strict=False)):
        cells = "".join(
            f"<td style='font-weight:bold;background:#eef'>{n}</td>" if i == j else f"<td>{n}</td>"
            for j, n in enumerate(counts)
        )
        body += f"<tr><th>{label}</th>{cells}</tr>"
    return (
        "<h2>Confusion matrix (chosen model, test rows)</h2>"
        "<p>Rows: the true class; columns: the predicted class.</p>"
        f"<table><tr><th>true \\ predicted</th>{head}</tr>{body}</table>"
    )


def balance_html(labels: dict[str, Any] | None) -> str:
    """Rows per class in training and test beside the mean probability served on the test
    rows: for a calibrated model the mean probability is close to the test share."""
    if not labels or "mean_probability" not in labels:
        return ""
    train, test = labels.get("train") or {}, labels.get("test") or {}
    n_train, n_test = sum(train.values()), sum(test.values())
    rows = "".join(
        f"<tr><td>{escape(str(c))}</td><td>{train.get(c, 0)}</td>"
        f"<td>{_share(train.get(c, 0), n_train)}</td><td>{test.get(c, 0)}</td>"
        f"<td>{_share(test.get(c, 0), n_test)}</td><td>{_cell(p)}</td></tr>"
        for c, p in labels["mean_probability"].items()
    )
    return (
        "<h2>Classes</h2><p>The classes the model learned from, beside the mean probability "
        "it serves for each on the test rows; for a calibrated model each is close to the "
        "class's test share.</p><table><tr><th>class</th><th>train rows</th><th>train share</th>"
        "<th>test rows</th><th>test share</th><th>mean served probability</th></tr>"
        f"{rows}</table>"
    )


def slices_html(ev: dict[str, Any]) -> str:
    rows = ""
    for column, groups in (ev.get("slices") or {}).items():
        if "error" in groups:
            rows += f"<tr><td>{escape(column)}</td><td colspan='3'>{escape(str(groups['error']))}</td></tr>"
            continue
        for value, g in groups.items():
            rows += (
                f"<tr><td>{escape(column)}</td><td>{escape(str(value))}</td>"
                f"<td>{_cell(g.get('rows'))}</td><td>{_cell(g.get('auc'))}</td></tr>"
            )
    if not rows:
        return ""
    return (
        "<h2>Slices</h2><table><tr><th>column</th><th>group</th><th>rows</th><th>macro AUC</th>"
        f"</tr>{rows}</table>"
    )


def multiclass_sections(ev: dict[str, Any]) -> str:
    """The report's body between the gates and the importance charts."""
    m = ev["candidates"][ev["chosen"]]
    return per_class_html(m) + confusion_html(m.get("confusion_matrix") or {}) + slices_html(ev)


NAMES = {"auc": "macro AUC", "weighted_auc": "weighted AUC", "log_loss": "log loss",
         "ece": "top-class calibration error"}  # fmt: skip


def summary_rows(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """An email's lines for a multiclass summary (evaluation.summary.summary)."""
    rows = [(NAMES.get(k, k), metrics[k]) for k in MULTICLASS_SUMMARY if k in metrics]
    recall = metrics.get("per_class_recall") or {}
    return rows + [
        ("recall by class", ", ".join(f"{c!r} {r}" for c, r in recall.items()) or "none")
    ]


def decay_rows(decay: dict[str, Any]) -> list[tuple[str, Any]]:
    """A decay alert's lines for a multiclass champion: the macro AUC of the labelled window
    (and its upper bound) against the test's, with each class's recall on the window."""
    figures = [
        (f"{NAMES.get(k, k)} now" if k == "auc" else NAMES.get(k, k), k)
        for k in ("auc", "weighted_auc", "log_loss", "accuracy", "ece")
    ]
    rows: list[tuple[str, Any]] = [("labelled predictions", decay.get("labelled"))]
    rows += [(name, f"{decay[k]:.4g}") for name, k in figures if decay.get(k) is not None]
    if decay.get("auc_high") is not None:
        rows.append(("macro AUC upper bound", f"{decay['auc_high']:.3f}"))
    rows += [("macro AUC at test", f"{decay['test_auc']:.3f}"), ("tolerance", decay["tolerance"])]
    recall = ", ".join(
        f"{c!r} {'-' if m.get('recall') is None else format(m['recall'], '.3f')} "
        f"({m.get('rows')} rows)"
        for c, m in (decay.get("per_class") or {}).items()
    )
    return rows + ([("recall by class", recall)] if recall else [])


def _md(value: Any) -> str:
    """A label in a Markdown table cell: no pipe, no line break, no HTML."""
    return escape(" ".join(str(value).split())).replace("|", "\\|")


def multiclass_card(ev: dict[str, Any], contract: Any, gates: str, passed_over: str) -> str:
    """The model card of a multiclass model (``gates``: the Markdown rows of the gate table)."""
    chosen = ev["chosen"]
    m = ev["candidates"][chosen]
    how = (ev.get("thresholds") or {}).get(chosen, {})
    labels = ev.get("labels") or {}
    served = labels.get("mean_probability") or {}
    train = labels.get("train") or {}
    classes = "\n".join(
        f"| {_md(c)} | {train.get(c, '')} | {p.get('rows')} | {p.get('precision')} "
        f"| {p.get('recall')} | {p.get('auc')} | {served.get(c, '')} |"
        for c, p in (m.get("per_class") or {}).items()
    )
    top = ", ".join(list(ev.get("importance", {}))[:5])
    return f"""# Model card: {ev["dataset"]} ({chosen})

**Run** {ev["run_id"]} - **decision** {"promoted" if ev["decision"]["promote"] else "rejected"}

## Intended use
{contract.description or "Predicts " + contract.target.column}. Multiclass classification of
`{contract.target.column}` into {len(m.get("per_class") or {})} classes; the API returns each
class's probability and the most probable class ({how.get("reason", "the most probable class")};
calibration: {how.get("calibration")}).

## Data
Split: {ev.get("split")}; rows {ev.get("rows")}.
Features: {len(ev.get("shap_mean_abs", {}))}; the most used: {top}.

## Held-out performance
Macro one-vs-rest AUC {m.get("auc")}, weighted AUC {m.get("weighted_auc")}, log loss
{m.get("log_loss")}, accuracy {m.get("accuracy")}, Brier {m.get("brier")}, top-class calibration
error {m.get("ece")}.

| class | train rows | test rows | precision | recall | AUC (one-vs-rest) | mean served probability |
| --- | --- | --- | --- | --- | --- | --- |
{classes}

## Gates
{passed_over}

| gate | verdict | value | threshold | 95% interval |
| --- | --- | --- | --- | --- |
{gates}

## Limitations
Trained on the data of one upload; a class with few test rows has a loosely measured recall
and AUC; performance on groups not declared as slices is not measured. Drift and decay are
watched by the monitor; retrain when they are confirmed.
"""
