"""Select: join the candidates trained in parallel and choose one on the validation rows."""

from typing import Any

from tabflow.ports import ObjectStore
from tabflow.workflow.common import collect_results


def select(results: list[dict[str, Any]], store: ObjectStore) -> dict[str, Any]:
    """Join the parallel candidates and choose one on the validation rows (never the test)."""
    by_name = {r["name"]: r for r in collect_results(results, store)}
    lgbm = by_name["lightgbm"]
    keys = (
        "model_uri",
        "calibration_uri",
        "reference_uri",
        "params",
        "calibration",
        "threshold",
        "threshold_reason",
        "validation",
    )
    candidates = {name: {k: r[k] for k in keys} for name, r in by_name.items()}
    if lgbm["task"] == "regression":
        chosen = min(candidates, key=lambda n: candidates[n]["validation"]["rmse"])
    else:
        chosen = max(candidates, key=lambda n: candidates[n]["validation"]["auc"] or 0.0)
    return {
        "candidates": candidates,
        "chosen": chosen,
        "spec_uri": lgbm["spec_uri"],
        "split_uri": lgbm["split_uri"],
        "split": lgbm["split"],
        "tuning": lgbm["tuning"],
        "importance": lgbm["importance"],
        "rows": lgbm["rows"],
        "baseline": lgbm.get("baseline"),
    }
