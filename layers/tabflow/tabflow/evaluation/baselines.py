"""The naive forecast a regression model must beat (a seasonal or overall mean)."""

from typing import Any

import numpy as np


def seasonal_baseline(y: np.ndarray, times: np.ndarray | None) -> dict[str, Any]:
    """The naive forecast a model must beat: the training mean per calendar month when the data
    has a timestamp (seasonality), the overall training mean otherwise."""
    mean = float(np.mean(y))
    if times is None:
        return {"name": "mean", "mean": mean, "by_month": {}}
    months = times.astype("datetime64[M]").astype(int) % 12 + 1
    return {
        "name": "seasonal_mean",
        "mean": mean,
        "by_month": {str(m): float(np.mean(y[months == m])) for m in np.unique(months)},
    }


def baseline_predict(baseline: dict[str, Any], times: np.ndarray | None, n: int) -> np.ndarray:
    if times is None or not baseline["by_month"]:
        return np.full(n, baseline["mean"])
    months = times.astype("datetime64[M]").astype(int) % 12 + 1
    return np.array([baseline["by_month"].get(str(m), baseline["mean"]) for m in months])
