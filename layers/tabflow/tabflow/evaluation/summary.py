"""What a summary of a model's held-out performance shows (emails, Step Functions payloads).
Plain Python: the notify function reads it without numpy."""

from typing import Any

BINARY_SUMMARY = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold", "rows")
REGRESSION_SUMMARY = ("rmse", "mae", "r2", "rows")


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of a metric set of binary_metrics or regression_metrics."""
    if "rmse" in metrics:
        return {k: metrics.get(k) for k in REGRESSION_SUMMARY}
    return {k: metrics[k] for k in (*BINARY_SUMMARY, "confusion_matrix")}
