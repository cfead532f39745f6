"""What a multiclass run tells its readers: the evaluation report (macro and weighted AUC,
log loss, accuracy, the per-class table, the confusion matrix, the class balance), the model
card, the summary Step Functions carries, and the promoted/rejected emails Notify sends.
Class labels are user data: one here is HTML and one holds a Markdown pipe."""

import json
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest

from tabflow.adapters.memory import MemoryMailer, MemoryStore
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.evaluation.summary import class_balance, label_text, summary
from tabflow.reports import evaluation_html, model_card
from tabflow.workflow.notify import notify
from tabflow.workflow.payloads import Evaluation

CLASSES = ("<script>alert(1)</script>", "economy", "first|business", "premium")


def _data(seed: int = 3, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Class codes with unequal shares, and probabilities that are informative but wrong
    often enough that every cell of the confusion matrix can be filled."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(CLASSES), rows, p=[0.1, 0.5, 0.15, 0.25])
    logits = rng.normal(0, 1.0, (rows, len(CLASSES)))
    logits[np.arange(rows), y] += 1.2
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def evaluation() -> dict:
    """An evaluation document as Evaluate writes it for a multiclass run."""
    y, p = _data()
    train_y, _ = _data(seed=4, rows=2400)
    y_base, p_base = y, np.full_like(p, 0.25)
    results = {
        "lightgbm": multiclass_metrics(y, p, CLASSES),
        "baseline": multiclass_metrics(y_base, p_base, CLASSES),
    }
    gates = [
        {"name": "auc_floor", "passed": True, "value": results["lightgbm"]["auc"],
         "threshold": 0.7, "detail": "macro AUC above the floor", "interval": None},
        {"name": "log_loss_ceiling", "passed": False, "value": results["lightgbm"]["log_loss"],
         "threshold": 0.5, "detail": "log loss above 0.5", "interval": None},
    ]  # fmt: skip
    return {
        "dataset": "fares",
        "run_id": "r-1",
        "task": "multiclass",
        "chosen": "lightgbm",
        "chosen_on_validation": "lightgbm",
        "candidates": results,
        "champion": None,
        "slices": {
            "origin": {"<EWR>": {"rows": 300, "auc": 0.71}, "JFK": {"rows": 300, "auc": 0.7}}
        },
        "decision": {"promote": False, "winner": "lightgbm", "gates": gates, "passed_over": None},
        "importance": {"distance": 0.6, "hour": 0.4},
        "shap_mean_abs": {"distance": 0.3, "hour": 0.2},
        "curves": {},
        "thresholds": {
            n: {"value": 0.0, "reason": "the most probable class", "calibration": "temperature"}
            for n in results
        },
        "rows": {"train": 2400, "validation": 600, "test": 600},
        "split": "stratified",
        "test_positives": None,
        "labels": class_balance(CLASSES, train_y, y, p),
        "test_rows": 600,
    }


class _Tables(HTMLParser):
    """The report's tables, as lists of rows of cell texts (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _tables(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def test_the_report_shows_the_confusion_matrix_cell_by_cell_with_labels_escaped(evaluation):
    html = evaluation_html(evaluation)
    parsed = _tables(html)
    assert parsed.scripts == 0 and "<script>alert" not in html  # a label is text, not markup
    cm = evaluation["candidates"]["lightgbm"]["confusion_matrix"]
    matrix = next(t for t in parsed.tables if t[0][0] == "true \\ predicted")
    assert matrix[0][1:] == list(CLASSES)  # the labels, decoded back to what the user wrote
    assert [row[0] for row in matrix[1:]] == list(CLASSES)
    assert [[int(v) for v in row[1:]] for row in matrix[1:]] == cm["counts"]
    assert sum(map(sum, cm["counts"])) == 600 and all(all(row) for row in cm["counts"])


def test_the_report_shows_macro_and_weighted_auc_log_loss_and_each_class(evaluation):
    parsed = _tables(evaluation_html(evaluation))
    metrics = next(t for t in parsed.tables if "macro AUC" in t[0])
    head, chosen = metrics[0], metrics[1]
    m = evaluation["candidates"]["lightgbm"]
    assert chosen[0] == "lightgbm (chosen)"
    for key, name in (("auc", "macro AUC"), ("weighted_auc", "weighted AUC"),
                      ("log_loss", "log loss"), ("accuracy", "accuracy")):  # fmt: skip
        assert float(chosen[head.index(name)]) == m[key]
    assert m["auc"] != m["weighted_auc"]  # unequal class shares: two different figures

    by_class = next(t for t in parsed.tables if t[0][:1] == ["class"] and "recall" in t[0])
    rows = {r[0]: r for r in by_class[1:]}
    assert set(rows) == set(CLASSES)
    for label, c in m["per_class"].items():
        assert int(rows[label][1]) == c["rows"]
        assert float(rows[label][2]) == c["precision"]
        assert float(rows[label][3]) == c["recall"]
        assert float(rows[label][4]) == c["auc"]

    balance = next(t for t in parsed.tables if "mean served probability" in t[0])
    shown = {r[0]: r for r in balance[1:]}
    labels = evaluation["labels"]
    for label in CLASSES:
        assert int(shown[label][1]) == labels["train"][label]
        assert int(shown[label][3]) == labels["test"][label]
        assert float(shown[label][5]) == labels["mean_probability"][label]

    gates = next(t for t in parsed.tables if t[0][:2] == ["gate", "verdict"])
    assert [r[:2] for r in gates[1:]] == [["auc_floor", "pass"], ["log_loss_ceiling", "FAIL"]]
    slices = next(t for t in parsed.tables if "macro AUC" in t[0] and t[0][0] == "column")
    assert ["origin", "<EWR>", "300", "0.71"] in slices[1:]


def test_class_balance_counts_each_class_and_averages_the_served_probabilities():
    y, p = _data()
    train = np.r_[_data(seed=5, rows=100)[0], -1, -1]  # -1: a row without a valid class
    balance = class_balance(CLASSES, train, y, p)
    assert (
        balance["train"] == {c: int((train == i).sum()) for i, c in enumerate(CLASSES)}
        and sum(balance["train"].values()) == 100
    )
    assert balance["test"] == {c: int((y == i).sum()) for i, c in enumerate(CLASSES)}
    expected = p.mean(axis=0)
    for i, c in enumerate(CLASSES):
        assert balance["mean_probability"][c] == pytest.approx(expected[i], abs=5e-5)
    # plain lists (what Notify or a JSON document holds) give the same figures
    assert class_balance(CLASSES, train.tolist(), y.tolist(), p.tolist()) == balance
    json.dumps(balance)  # plain Python: it travels in the Step Functions payload

    classes, served = label_text(balance)
    assert f"'economy' {balance['train']['economy']:,}" in classes
    share = balance["test"]["premium"] / len(y)
    assert f"'premium' {balance['mean_probability']['premium']} (test share {share:.1%})" in served


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return type(value) in (int, float, str, type(None))


def test_the_summary_is_small_plain_python_the_evaluation_payload_accepts(evaluation):
    metrics = evaluation["candidates"]["lightgbm"]
    s = summary(metrics)
    assert set(s) == {"auc", "weighted_auc", "log_loss", "accuracy", "ece", "rows",
                      "per_class_recall"}  # fmt: skip
    assert s["per_class_recall"] == {c: metrics["per_class"][c]["recall"] for c in CLASSES}
    assert _plain(s), s  # no numpy scalar: Notify runs without numpy
    out = Evaluation.of(
        {"promote": False, "winner": "lightgbm", "metrics": s,
         "all_metrics": {"lightgbm": {"auc": s["auc"], "log_loss": s["log_loss"]}},
         "gates": evaluation["decision"]["gates"], "failed_gates": ["log_loss_ceiling"],
         "threshold": 0.0, "labels": evaluation["labels"], "evaluation_uri": "s3://l/e.json",
         "report_uri": "s3://m/r.html", "model_card_uri": "s3://m/c.md"}
    ).dump()  # fmt: skip
    assert out["metrics"] == s and out["labels"] == evaluation["labels"]
    assert len(json.dumps(out)) < 8000  # far below the 256 KB of a Step Functions payload


def _run(evaluation: dict, kind: str) -> dict:
    """The run state Notify receives (the JSON the state machine passes)."""
    metrics = summary(evaluation["candidates"]["lightgbm"])
    ev = {
        "promote": kind == "promoted", "winner": "lightgbm", "metrics": metrics,
        "all_metrics": {"lightgbm": {"auc": metrics["auc"]}},
        "gates": evaluation["decision"]["gates"],
        "failed_gates": [] if kind == "promoted" else ["log_loss_ceiling"],
        "champion_version": None, "threshold": 0.0, "labels": evaluation["labels"],
        "evaluation_uri": "s3://lake/e.json", "report_uri": "s3://models/r.html",
        "model_card_uri": "s3://models/c.md",
    }  # fmt: skip
    run = {"dataset": "fares", "run_id": "r-1", "evaluation": ev}
    if kind == "promoted":
        run["promotion"] = {
            "version": 3, "run_id": "r-1", "model_uri": "s3://models/fares/v3/model.txt",
            "metadata_uri": "s3://models/fares/v3/metadata.json",
            "report_uri": "s3://models/fares/v3/report.html",
            "model_card_uri": "s3://models/fares/v3/model_card.md", "previous_version": 2,
        }  # fmt: skip
    return json.loads(json.dumps({"kind": kind, "run": run}))


@pytest.mark.parametrize("kind", ["promoted", "rejected"])
def test_notify_emails_the_multiclass_metrics_and_the_class_balance(evaluation, kind):
    mailer = MemoryMailer()
    notify(_run(evaluation, kind), store=MemoryStore(), mailer=mailer, recipients=["t@x.io"])
    (email, _), = mailer.sent  # fmt: skip
    m = evaluation["candidates"]["lightgbm"]
    labels = evaluation["labels"]
    text = email.text
    assert f"macro AUC: {m['auc']}" in text and f"weighted AUC: {m['weighted_auc']}" in text
    assert f"log loss: {m['log_loss']}" in text and f"accuracy: {m['accuracy']}" in text
    recall = next(line for line in text.splitlines() if line.startswith("recall by class: "))
    for c in CLASSES:
        assert f"{c!r} {m['per_class'][c]['recall']}" in recall
        assert f"{c!r} {labels['train'][c]:,}" in text  # training rows per class
        assert f"{c!r} {labels['mean_probability'][c]} (test share" in text
    assert "mean served score" not in text and "positive rate" not in text  # binary wording
    if kind == "rejected":
        assert "log_loss_ceiling" in email.subject
        assert "gate log_loss_ceiling: FAIL: log loss above 0.5" in text
    parsed = _tables(email.html)
    assert parsed.scripts == 0 and "<script>alert" not in email.html
    cells = {r[0]: r[1] for r in parsed.tables[0]}
    assert cells["macro AUC"] == str(m["auc"])
    assert "'<script>alert(1)</script>'" in cells["training classes"]  # decoded: it was escaped


def test_the_model_card_lists_each_class_and_keeps_its_table_intact(evaluation):
    contract = SimpleNamespace(description="", target=SimpleNamespace(column="fare_class"))
    card = model_card(evaluation, contract)
    m = evaluation["candidates"]["lightgbm"]
    assert f"Macro one-vs-rest AUC {m['auc']}, weighted AUC {m['weighted_auc']}" in card
    assert "into 4 classes" in card and "calibration: temperature" in card
    lines = card.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("| class | train rows |")))
    rows = lines[start + 2 : start + 2 + len(CLASSES)]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]
    assert [len(r) for r in cells] == [7] * len(CLASSES)  # the pipe in a label is escaped
    assert [r[0] for r in cells] == [c.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
                                     for c in CLASSES]  # fmt: skip
    assert "<script>" not in card and "&lt;script&gt;" in card
    c = m["per_class"]["economy"]
    assert f"| economy | {evaluation['labels']['train']['economy']} | {c['rows']} | " in card
    assert "| log_loss_ceiling | FAIL |" in card


def test_the_openapi_document_describes_a_multiclass_answer():
    """The answer the API gives per multiclass prediction validates against the published
    schema; a probability that is not a number does not."""
    import jsonschema

    from tabflow.openapi import document

    doc = document()
    schema = {"$ref": "#/components/schemas/PredictResponse", **doc}
    answer = {
        "request_id": "q-1", "dataset": "flights", "model_version": 2,
        "model_kind": "lightgbm", "threshold": 0.0,
        "predictions": [{
            "score": 0.61, "label": "UA",
            "probabilities": {"UA": 0.61, "B6": 0.3, "<EWR & co>": 0.09},
            "top_features": [{"feature": "distance", "contribution": 0.42}],
        }],
    }  # fmt: skip
    jsonschema.validate(answer, schema)
    prediction = doc["components"]["schemas"]["Prediction"]["properties"]
    assert "Multiclass only" in prediction["probabilities"]["description"]
    assert "Regression only" in prediction["interval"]["description"]
    answer["predictions"][0]["probabilities"]["UA"] = "0.61"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(answer, schema)


def test_a_multiclass_decay_alert_names_the_macro_auc_and_each_class_recall():
    """The monitor's decay result for a multiclass champion (its multiclass metrics on the
    labelled window, the test macro AUC and the bounds) as an email."""
    from tabflow.emails import decay_alert

    y, p = _data(seed=8, rows=300)
    window = multiclass_metrics(y, p, CLASSES)
    decay = {"labelled": 300, "test_auc": 0.91, "tolerance": 0.05, "auc_low": 0.61,
             "auc_high": 0.7, "status": "decay", **window}  # fmt: skip
    email = decay_alert("fares", 4, decay, "s3://lake/monitoring/r.json")
    assert email.subject == (
        f"[tabflow] fares: model v4 performance decayed (macro AUC {window['auc']:.3f} vs "
        "0.910 at test)"
    )
    lines = dict(line.split(": ", 1) for line in email.text.splitlines() if ": " in line)
    assert lines["macro AUC now"] == f"{window['auc']:.4g}"
    assert lines["macro AUC upper bound"] == "0.700" and lines["macro AUC at test"] == "0.910"
    assert lines["log loss"] == f"{window['log_loss']:.4g}"
    for c in CLASSES:
        m = window["per_class"][c]
        assert f"{c!r} {m['recall']:.3f} ({m['rows']} rows)" in lines["recall by class"]
    assert "<script>alert" not in email.html and _tables(email.html).scripts == 0
