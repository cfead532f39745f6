"""User data in every HTML document tabflow writes is shown as text, never run as markup:
the templates' environment escapes every value (tabflow/rendering.py). Each document is
built from hostile values where users put them: dataset, file and column names, category
values and class labels, gate details, errors."""

import numpy as np
import pytest

from tabflow import emails
from tabflow.contract import parse_contract
from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.evaluation.summary import class_balance, summary
from tabflow.readers import read_table
from tabflow.rendering import environment
from tabflow.reports import evaluation_html, monitoring_html, validation_html
from tabflow.validation import validate
from tabflow.workflow.payloads import Evaluation, Promotion
from tests.html_checks import HOSTILE, assert_shown_as_text

SCRIPT, IMG = HOSTILE
GATES = [
    {"name": "auc_floor", "passed": False, "value": 0.61, "threshold": 0.7,
     "detail": f"AUC below the floor on {IMG}",
     "interval": {"point": 0.61, "low": 0.55, "high": 0.67, "method": "bootstrap"}},
]  # fmt: skip
DECISION = {"promote": False, "gates": GATES, "winner": "lightgbm",
            "passed_over": {"candidate": SCRIPT, "failed": ["auc_floor"]}}  # fmt: skip


def _binary() -> dict:
    metrics = {"auc": 0.61, "pr_auc": 0.4, "precision": 0.5, "recall": 0.4, "f1": 0.44,
               "brier": 0.2, "ece": 0.03, "threshold": 0.5,
               "confusion_matrix": {"tn": 40, "fp": 10, "fn": 12, "tp": 8}}  # fmt: skip
    curve = {"fpr": [0, 0.4, 1], "tpr": [0, 0.6, 1], "recall": [1, 0.5, 0],
             "precision": [0.3, 0.5, 1], "predicted": [0.1, 0.5, 0.9], "observed": [0.1, 0.4, 0.8]}  # fmt: skip
    return {
        "dataset": SCRIPT, "run_id": IMG, "chosen": "lightgbm", "split": "random",
        "rows": {"train": 280, "test": 70}, "candidates": {"lightgbm": metrics},
        "curves": {"lightgbm": curve},
        "thresholds": {"lightgbm": {"value": 0.5, "reason": IMG, "calibration": "platt"}},
        "decision": DECISION,
        "labels": {"train": {SCRIPT: 100, "no": 180}, "train_positive_rate": 0.36,
                   "mean_score": 0.35, "test_positive_rate": 0.29},
        "slices": {SCRIPT: {IMG: {"rows": 30, "positives": 9, "auc": 0.6}}},
        "importance": {SCRIPT: 0.7, IMG: 0.3}, "shap_mean_abs": {IMG: 0.2},
    }  # fmt: skip


def _regression() -> dict:
    interval = {"declared": 0.9, "coverage": 0.88, "low": 0.8, "high": 0.94, "covered": 62,
                "rows": 70, "mean_width": 3.1, "median_width": 2.9, "scale": "absolute", "q": 1.5}  # fmt: skip
    return {
        "task": "regression", "dataset": SCRIPT, "run_id": "r-1", "chosen": "lightgbm",
        "split": "random", "rows": {"train": 280, "test": 70},
        "candidates": {"lightgbm": {"rmse": 1.5, "mae": 1.1, "r2": 0.4, "interval": interval}},
        "decision": DECISION,
        "slices": {IMG: {SCRIPT: {"rows": 30, "mae": 1.0, "rmse": 1.4, "coverage": 0.9,
                                  "mean_width": 3.0}}, "store": {"error": IMG}},
        "residuals": {"bias": 0.1, "quantiles": {"p5": -2.0, "p95": 2.1},
                      "by_predicted": [{"rows": 7, "predicted": 1.0, "actual": 1.2, "mae": 0.3}]},
        "importance": {SCRIPT: 1.0}, "shap_mean_abs": {IMG: 0.5},
    }  # fmt: skip


def _multiclass() -> dict:
    classes = (SCRIPT, IMG, "economy")
    rng = np.random.default_rng(5)
    y = rng.choice(3, 300)
    p = rng.dirichlet(np.ones(3), 300)
    metrics = multiclass_metrics(y, p, classes)
    return {
        "task": "multiclass", "dataset": "fares", "run_id": "r-2", "chosen": "lightgbm",
        "split": "stratified", "rows": {"train": 900, "test": 300},
        "candidates": {"lightgbm": metrics},
        "champion": {"comparable": False, "version": 2, "reason": f"class {IMG} is new"},
        "thresholds": {"lightgbm": {"reason": "most probable class", "calibration": SCRIPT}},
        "decision": DECISION, "labels": class_balance(classes, rng.choice(3, 900), y, p),
        "slices": {SCRIPT: {IMG: {"rows": 40, "auc": 0.5}}},
        "importance": {IMG: 1.0}, "shap_mean_abs": {SCRIPT: 0.4},
    }  # fmt: skip


@pytest.mark.parametrize("make", [_binary, _regression, _multiclass])
def test_the_evaluation_report_shows_hostile_values_as_text(make):
    html = evaluation_html(make())
    assert_shown_as_text(html, SCRIPT, IMG)
    assert "<svg" in html and "<h2>Gates</h2>" in html  # the charts and gates are markup


def test_the_validation_report_shows_hostile_values_as_text():
    contract = parse_contract(
        "dataset: shop\ntarget: {column: label, positive_label: 'yes'}\nid_column: id\n"
        "columns:\n  id: {type: string, nullable: false}\n"
        "  label: {type: category, categories: ['yes', 'no']}\nmax_bad_row_share: 0.9\n"
    )
    rows = "\n".join(f"r{i},{'yes' if i % 2 else 'no'},x" for i in range(10))
    data = f'id,label,"{IMG.replace(chr(34), chr(34) * 2)}"\n{rows}\nbad,{SCRIPT},x\n'.encode()
    result = validate(read_table(data, name="f.csv"), contract, file=IMG)
    report = {
        "file": IMG, "dataset": "shop", "run_id": SCRIPT, "status": "rejected",
        "problems": [f"row 12: {SCRIPT}"], "counts": result.counts, "columns": result.columns,
        "ignored_columns": result.ignored_columns, "renamed_headers": {SCRIPT: "label"},
        "warnings": result.warnings, "format": {"type": "csv", "encoding": "utf-8",
                                                "delimiter": IMG},
        "quarantine_uri": f"s3://raw/quarantine/{SCRIPT}", "not_emailed_to": [IMG],
    }  # fmt: skip
    assert IMG in result.ignored_columns  # the hostile header reached the report's data
    assert any(SCRIPT in repr(e["value"]) for e in result.columns["label"]["invalid_examples"])
    html = validation_html(report)
    assert_shown_as_text(html, SCRIPT, IMG, f"{SCRIPT!r}: ")


def test_the_monitoring_report_shows_hostile_values_as_text():
    feature = {"feature": SCRIPT, "drifted": True, "psi": 0.4, "how": IMG,
               "tests": [{"test": "chi2", "p_value": 0.001, "effect": 0.3, "drifted": True}]}  # fmt: skip
    result = {"dataset": SCRIPT, "model_version": 2, "status": "drift", "rows": 500,
              "window": [IMG, "2026-01-02"], "decay": {"per_class": {SCRIPT: {"recall": 0.5}}},
              "drift": {"features": [feature]}}  # fmt: skip
    html = monitoring_html(result)
    assert_shown_as_text(html, SCRIPT, IMG, "chi2 p=0.001 effect=0.300 DRIFT")


def _emails() -> list:
    metrics = summary(multiclass_metrics(np.array([0, 1, 1, 0]),
                                         np.array([[0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]]),
                                         (SCRIPT, IMG)))  # fmt: skip
    drifted = {"feature": SCRIPT, "how": IMG, "psi": 0.5, "importance": 0.3, "kind": "categorical",
               "reference": {"shares": [0.5, 0.5], "labels": [SCRIPT, IMG]},
               "window": {"shares": [0.9, 0.1]}}  # fmt: skip
    decay = {"auc": 0.6, "test_auc": 0.8, "tolerance": 0.05, "labelled": 300,
             "per_class": {SCRIPT: {"recall": 0.4, "rows": 100}, IMG: {"recall": 0.7, "rows": 200}},
             "labels": {"unresolved": 1, "unresolved_values": SCRIPT}}  # fmt: skip
    evaluation = Evaluation(
        promote=True,
        winner="lightgbm",
        metrics=metrics,
        all_metrics={"lightgbm": metrics},
        gates=GATES,
        failed_gates=[],
        passed_over={"candidate": SCRIPT, "failed": [IMG]},
        threshold=0.5,
        evaluation_uri="s3://e",
        report_uri=IMG,
        model_card_uri=SCRIPT,
    )
    promotion = Promotion(
        version=2,
        run_id=IMG,
        model_uri="s3://m",
        metadata_uri="s3://m",
        report_uri=IMG,
        model_card_uri=SCRIPT,
        previous_version=1,
    )
    return [
        emails.model_promoted(SCRIPT, evaluation, promotion),
        emails.model_rejected(SCRIPT, IMG, evaluation.model_copy(update={"passed_over": None})),
        emails.run_failed(SCRIPT, "r-1", "Train", IMG, SCRIPT),
        emails.file_rejected(SCRIPT, f"s3://raw/{IMG}", [SCRIPT, IMG], "s3://r"),
        emails.drift_alert(SCRIPT, 2, [drifted], 500, f"s3://{IMG}", unused=[drifted]),
        emails.decay_alert(SCRIPT, 2, decay, IMG),
        emails.model_load_failed(SCRIPT, 3, None, IMG),
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(7))
def test_every_email_html_shows_hostile_values_as_text(index):
    email = _emails()[index]
    assert_shown_as_text(email.html, SCRIPT, IMG)
    assert SCRIPT in email.text  # the plain-text part is text: unescaped, as before


def test_one_environment_escapes_and_refuses_a_missing_value():
    env = environment()
    assert env is environment() and env.autoescape is True
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ nothing }}").render()
