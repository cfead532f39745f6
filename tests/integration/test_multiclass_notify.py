"""The Notify Lambda (the deployed template's function, under moto) emails a multiclass run:
the run state Step Functions passes it (a multiclass summary and class balance) goes through
the task's payload model, and the email SES sends names the macro and weighted AUC, the log
loss, each class's recall and rows, with a label that is HTML shown as text."""

import email

import numpy as np
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.evaluation.summary import class_balance, summary
from tests.integration.conftest import Context

CLASSES = ("9E", "<b>AA</b>", "B6", "other")


def _parts(raw: str) -> dict[str, str]:
    return {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in email.message_from_string(raw).walk()
        if p.get_content_type() in ("text/plain", "text/html")
    }


def test_the_notify_lambda_emails_a_rejected_multiclass_run(aws, load_handler):
    rng = np.random.default_rng(9)
    y = rng.choice(len(CLASSES), 400, p=[0.2, 0.3, 0.4, 0.1])
    logits = rng.normal(0, 1, (400, len(CLASSES)))
    logits[np.arange(400), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metrics = multiclass_metrics(y, p, CLASSES)
    labels = class_balance(CLASSES, rng.choice(len(CLASSES), 1600), y, p)
    gates = [
        {"name": "auc_floor", "passed": True, "value": metrics["auc"], "threshold": 0.7,
         "detail": "macro AUC above 0.7"},
        {"name": "log_loss_ceiling", "passed": False, "value": metrics["log_loss"],
         "threshold": 0.3, "detail": f"log loss {metrics['log_loss']} above 0.3"},
    ]  # fmt: skip
    run = {
        "dataset": "flights", "run_id": "r-mc",
        "evaluation": {
            "promote": False, "winner": "lightgbm", "metrics": summary(metrics),
            "all_metrics": {"lightgbm": {"auc": metrics["auc"]}}, "gates": gates,
            "failed_gates": ["log_loss_ceiling"], "champion_version": None, "threshold": 0.0,
            "labels": labels, "evaluation_uri": "s3://lake/e.json",
            "report_uri": "s3://models/r.html", "model_card_uri": "s3://models/c.md",
        },
    }  # fmt: skip
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    before = len(sent)
    handler = load_handler("NotifyFunction")
    out = handler.lambda_handler({"kind": "rejected", "run": run}, Context())
    assert "log_loss_ceiling" in out["subject"]
    mine = [m for m in sent[before:] if "flights: candidate rejected" in m.raw_data]
    assert len(mine) == 1
    parts = _parts(mine[0].raw_data)
    text, html = parts["text/plain"], parts["text/html"]
    assert f"macro AUC: {metrics['auc']}" in text
    assert f"weighted AUC: {metrics['weighted_auc']}" in text
    assert f"log loss: {metrics['log_loss']}" in text
    for c in CLASSES:
        assert f"{c!r} {metrics['per_class'][c]['recall']}" in text
        assert f"{c!r} {labels['train'][c]:,}" in text
    assert "<b>AA</b>" not in html and "&lt;b&gt;AA&lt;/b&gt;" in html
