"""The multiclass parts of the model card and the emails: macro and weighted one-vs-rest AUC,
log loss, accuracy, each class's recall. The HTML report's multiclass sections (the per-class
table, the confusion matrix, the class balance) are templates/multiclass.html.j2. Rendering
only: the figures come from the evaluation document. Class labels are user data: always
escaped (the HTML by the template environment, the Markdown card by ``_md``)."""

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
