"""The current champion scored on a run's test rows, to compare it with the new candidate."""

from typing import Any

import numpy as np

from tabflow.evaluation.metrics import binary_metrics, regression_metrics
from tabflow.features import FeatureSpec
from tabflow.models.base import load_stored
from tabflow.ports import ObjectStore, Registry
from tabflow.training import frame_columns


def champion_on(
    registry: Registry,
    dataset: str,
    store: ObjectStore,
    frame: Any,
    test_rows: np.ndarray,
    y: np.ndarray,
) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """The current champion scored on this run's test rows, if it can read them: its summary
    (None without a champion) and its scores on those rows, for paired comparisons."""
    current = registry.champion(dataset)
    if current is None:
        return None, None
    spec = FeatureSpec.from_json(store.get(current.spec_uri))
    missing = [f.name for f in spec.fields if f.name not in frame.columns]
    if missing:
        return {
            "version": current.version,
            "comparable": False,
            "reason": f"its inputs {missing} are not in this data",
        }, None
    model = load_stored(store, current.kind, current.model_uri, current.calibration_uri)
    x = spec.matrix(frame_columns(spec, frame))[test_rows]
    scores = model.predict(x)
    if spec.task == "regression":
        return {
            "version": current.version,
            "comparable": True,
            **regression_metrics(y, scores),
        }, scores
    m = binary_metrics(y, scores, threshold=current.threshold)
    summary = {
        "version": current.version,
        "comparable": True,
        "auc": m["auc"],
        "pr_auc": m["pr_auc"],
    }
    return summary, scores
