"""What a summary of a model's held-out performance shows (emails, Step Functions payloads).
Plain Python: the notify function reads it without numpy."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

BINARY_SUMMARY = ("auc", "pr_auc", "precision", "recall", "f1", "brier", "ece", "threshold", "rows")
REGRESSION_SUMMARY = ("rmse", "mae", "r2", "rows")
MULTICLASS_SUMMARY = ("auc", "weighted_auc", "log_loss", "accuracy", "ece", "rows")
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
    classes: Sequence[str], train_codes: Any, test_codes: Any, test_probabilities: Any
) -> dict[str, Any]:
    """A multiclass model's classes: rows per class in training and in the test rows (class
    codes in the order of ``classes``; -1, a row without a valid class, is not counted), and
    the mean probability the model serves for each class on the test rows (rows x classes).
    For a calibrated model each class's mean probability is close to its share of the test
    rows; one far from it is a sign of wrong labels or a shifted class balance."""
    names = [str(c) for c in classes]

    def counts(codes: Any) -> dict[str, int]:
        seen = Counter(int(c) for c in codes)
        return {name: seen.get(i, 0) for i, name in enumerate(names)}

    rows = len(test_probabilities)
    means: list[float | None]
    if rows and hasattr(test_probabilities, "mean"):  # an array: no row loop in Python
        means = [float(m) for m in test_probabilities.mean(axis=0)]
    elif rows:  # lists (one per row): a column at a time
        means = [sum(map(float, column)) / rows for column in zip(*test_probabilities, strict=True)]
    else:
        means = [None] * len(names)
    return {
        "train": counts(train_codes),
        "test": counts(test_codes),
        "mean_probability": {
            name: None if m is None else round(m, 4) for name, m in zip(names, means, strict=True)
        },
    }


def _share(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "-"


def label_text(labels: dict[str, Any]) -> tuple[str, str]:
    """Two lines for an email or a report: the training classes, and the mean served score
    beside the test rows' positive rate (multiclass: each class's mean served probability
    beside its share of the test rows)."""
    if "mean_probability" in labels:
        train, test = labels["train"], labels.get("test") or {}
        n_train, n_test = sum(train.values()), sum(test.values())
        return (
            ", ".join(f"{c!r} {n:,} ({_share(n, n_train)})" for c, n in train.items()),
            ", ".join(
                f"{c!r} {p} (test share {_share(test.get(c, 0), n_test)})"
                for c, p in labels["mean_probability"].items()
            ),
        )
    counts = ", ".join(f"{label!r} {n:,}" for label, n in labels["train"].items())
    return (
        f"{counts} (positive rate {labels['train_positive_rate']})",
        f"{labels['mean_score']} (test rows' positive rate {labels['test_positive_rate']})",
    )


def _plain(value: Any) -> Any:
    """A number as a Python float or int (a numpy scalar is neither JSON nor pydantic's)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    return float(value)


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of a metric set of binary_metrics, multiclass_metrics or
    regression_metrics. Multiclass: the macro (``auc``) and weighted one-vs-rest AUC, log
    loss, accuracy, calibration error, rows and ``per_class_recall`` ({class: recall})."""
    if "per_class" in metrics:
        out = {k: _plain(metrics.get(k)) for k in MULTICLASS_SUMMARY}
        out["per_class_recall"] = {
            str(c): _plain(m.get("recall")) for c, m in metrics["per_class"].items()
        }
        return out
    if "rmse" in metrics:  # with the prediction interval's coverage on the test rows
        interval = metrics.get("interval") or {}
        return {k: metrics.get(k) for k in REGRESSION_SUMMARY} | {
            k: interval[name] for k, name in INTERVAL_SUMMARY.items() if name in interval
        }
    return {k: metrics[k] for k in (*BINARY_SUMMARY, "confusion_matrix")}
