"""The Notify Lambda (the deployed template's function, under moto) renders its emails from
the templates: a run whose class labels, gate details and failure cause are hostile HTML is
emailed with those values shown as text in the HTML part."""

import email
import json

import numpy as np
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.evaluation.metrics import multiclass_metrics
from tabflow.evaluation.summary import class_balance, summary
from tests.html_checks import HOSTILE, assert_shown_as_text
from tests.integration.conftest import Context

SCRIPT, IMG = HOSTILE


def _sent(marker: str, before: int) -> dict[str, str]:
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[before:]
    mine = [m for m in sent if marker in m.raw_data]
    assert len(mine) == 1
    return {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in email.message_from_string(mine[0].raw_data).walk()
        if p.get_content_type() in ("text/plain", "text/html")
    }


def test_the_notify_lambda_emails_hostile_values_as_text(aws, load_handler):
    handler = load_handler("NotifyFunction")
    outbox = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages

    classes = (SCRIPT, IMG, "economy")
    rng = np.random.default_rng(2)
    y = rng.choice(3, 300)
    p = rng.dirichlet(np.ones(3), 300)
    metrics = multiclass_metrics(y, p, classes)
    gates = [{"name": "auc_floor", "passed": False, "value": metrics["auc"], "threshold": 0.9,
              "detail": f"macro AUC below 0.9 ({IMG})"}]  # fmt: skip
    run = {"dataset": "fares", "run_id": "r-hostile", "evaluation": {
        "promote": False, "winner": "lightgbm", "metrics": summary(metrics),
        "all_metrics": {"lightgbm": {"auc": metrics["auc"]}}, "gates": gates,
        "failed_gates": ["auc_floor"], "champion_version": None, "threshold": 0.0,
        "labels": class_balance(classes, rng.choice(3, 900), y, p),
        "evaluation_uri": "s3://lake/e.json", "report_uri": "s3://models/r.html",
        "model_card_uri": "s3://models/c.md"}}  # fmt: skip
    before = len(outbox)
    handler.lambda_handler({"kind": "rejected", "run": run}, Context())
    parts = _sent("fares: candidate rejected", before)
    assert_shown_as_text(parts["text/html"], SCRIPT, IMG, "macro AUC")
    assert SCRIPT in parts["text/plain"]

    cause = json.dumps({"errorMessage": f"column {SCRIPT} has no values", "errorType": "X"})
    failed = {"dataset": "fares", "run_id": "r-hostile-2", "failed_step": "Prepare",
              "error": {"Error": IMG, "Cause": cause}}  # fmt: skip
    before = len(outbox)
    handler.lambda_handler({"kind": "failed", "run": failed}, Context())
    parts = _sent("fares: training run failed at Prepare", before)
    assert_shown_as_text(parts["text/html"], f"column {SCRIPT} has no values", IMG)
