"""What a summary of a model's held-out performance shows (emails, Step Functions payloads).
Plain Python: the notify function reads it without numpy."""

from typing import Any

BINARY_SUMMARY = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold", "rows")
REGRESSION_SUMMARY = ("rmse", "mae", "r2", "rows")
INTERVAL_SUMMARY = {
    "coverage": "coverage",
    "declared_coverage": "declared",
    "interval_width": "mean_width",
}


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of a metric set of binary_metrics or regression_metrics."""
    if "rmse" in metrics:  # with the prediction interval's coverage on the test rows
        interval = metrics.get("interval") or {}
        return {k: metrics.get(k) for k in REGRESSION_SUMMARY} | {
            k: interval[name] for k, name in INTERVAL_SUMMARY.items() if name in interval
        }
    return {k: metrics[k] for k in (*BINARY_SUMMARY, "confusion_matrix")}
