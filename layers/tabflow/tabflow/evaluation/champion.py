"""The current champion scored on a run's test rows, to compare it with the new candidate."""

from typing import Any

import numpy as np

from tabflow.evaluation.metrics import binary_metrics, multiclass_metrics, regression_metrics
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
    run_spec: FeatureSpec | None = None,
) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """The current champion scored on this run's test rows, if it can read them: its summary
    (None without a champion) and its scores on those rows, for paired comparisons. A
    champion of another task, or of other classes, is not comparable with ``run_spec``'s."""
    current = registry.champion(dataset)
    if current is None:
        return None, None
    spec = FeatureSpec.from_json(store.get(current.spec_uri))
    if run_spec is not None and (spec.task, spec.classes) != (run_spec.task, run_spec.classes):
        return {
            "version": current.version,
            "comparable": False,
            "reason": f"it predicts {spec.task} {list(spec.classes) or ''}, this run "
            f"{run_spec.task} {list(run_spec.classes) or ''}".replace(" ,", ","),
        }, None
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
    if spec.task == "multiclass":
        m = multiclass_metrics(y, scores, spec.classes)
        return {
            "version": current.version,
            "comparable": True,
            "auc": m["auc"],
            "log_loss": m["log_loss"],
        }, scores
    m = binary_metrics(y, scores, threshold=current.threshold)
    summary = {
        "version": current.version,
        "comparable": True,
        "auc": m["auc"],
        "pr_auc": m["pr_auc"],
    }
    return summary, scores
