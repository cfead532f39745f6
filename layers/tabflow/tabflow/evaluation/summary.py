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


def label_balance(
    positive: str, negative: str, train_y: Any, test_y: Any, test_scores: Any
) -> dict[str, Any]:
    """The classes the model learned from (counts and positive rate of the training rows)
    beside the mean score it serves on the test rows: for a calibrated model the two rates
    should be close; a mean score far from the positive rate is a sign of wrong labels."""
    n, positives = len(train_y), int(sum(train_y))
    return {
        "train": {positive: positives, negative: n - positives},
        "train_positive_rate": round(positives / n, 4) if n else None,
        "test_positive_rate": round(float(sum(test_y)) / len(test_y), 4) if len(test_y) else None,
        "mean_score": round(float(sum(test_scores)) / len(test_scores), 4)
        if len(test_scores)
        else None,
    }


def class_balance(
    classes: Any, train_codes: Any, test_codes: Any, test_probabilities: Any
) -> dict[str, Any]:
    """Multiclass: the rows of each class the model learned from and was tested on, beside
    the mean probability it serves for each class on the test rows (close to the class's
    test share for a calibrated model)."""
    k, n = len(classes), len(test_probabilities)
    return {
        "train": {c: sum(1 for v in train_codes if v == i) for i, c in enumerate(classes)},
        "test": {c: sum(1 for v in test_codes if v == i) for i, c in enumerate(classes)},
        "mean_probability": {
            c: round(sum(row[i] for row in test_probabilities) / n, 4) if n else None
            for i, c in enumerate(classes[:k])
        },
    }


def label_text(labels: dict[str, Any]) -> tuple[str, str]:
    """Two lines for an email or a report: the training classes, and the mean served score
    beside the test rows' positive rate."""
    counts = ", ".join(f"{label!r} {n:,}" for label, n in labels["train"].items())
    return (
        f"{counts} (positive rate {labels['train_positive_rate']})",
        f"{labels['mean_score']} (test rows' positive rate {labels['test_positive_rate']})",
    )


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of a metric set of binary_metrics or regression_metrics."""
    if "rmse" in metrics:  # with the prediction interval's coverage on the test rows
        interval = metrics.get("interval") or {}
        return {k: metrics.get(k) for k in REGRESSION_SUMMARY} | {
            k: interval[name] for k, name in INTERVAL_SUMMARY.items() if name in interval
        }
    return {k: metrics[k] for k in (*BINARY_SUMMARY, "confusion_matrix")}
