"""Evaluate: score the held-out rows once with every candidate (and with the current champion,
on the same rows), apply the gates (paired intervals on those rows; the other candidate wins
if the chosen one fails and it passes every gate), write the evaluation report and the model
card."""

import json
from typing import Any

import numpy as np

from tabflow.evaluation.baselines import baseline_predict
from tabflow.evaluation.champion import champion_on
from tabflow.evaluation.conformal import interval_metrics, residual_summary, slice_errors
from tabflow.evaluation.curves import curves
from tabflow.evaluation.metrics import binary_metrics, multiclass_metrics, regression_metrics
from tabflow.evaluation.slices import slice_metrics
from tabflow.evaluation.summary import class_balance, label_balance, summary
from tabflow.features import FeatureSpec
from tabflow.gates import HeldOut, decide
from tabflow.models.base import load_stored, prediction_interval
from tabflow.multiclass_gates import decide_multiclass
from tabflow.observability import logger
from tabflow.ports import ObjectStore, Registry, TableStore, s3_uri
from tabflow.regression_gates import decide_regression
from tabflow.reports import evaluation_html, model_card
from tabflow.training import frame_columns, target_vector
from tabflow.workflow.common import load_contract
from tabflow.workflow.data import timestamps
from tabflow.workflow.payloads import EvaluateInput, Evaluation, Json


def evaluate(
    state: EvaluateInput | Json,
    *,
    store: ObjectStore,
    tables: TableStore,
    lake_bucket: str,
    model_bucket: str,
    registry: Registry | None = None,
) -> Evaluation:
    """Score the held-out rows once with every candidate (and with the current champion, on
    the same rows), apply the gates to the chosen candidate, write the evaluation report."""
    state = EvaluateInput.of(state)
    dataset, run_id = state.dataset, state.run_id
    contract = load_contract(store, state.contract_uri)
    trained = state.train
    spec = FeatureSpec.from_json(store.get(trained.spec_uri))
    # Features are computed on the whole curated file (entity aggregates need the rows before
    # each test row), then only the held-out rows are scored: the test set is touched here once.
    frame = tables.read_parquet(state.curated_uri)
    split = json.loads(store.get(trained.split_uri))
    test_rows = np.asarray(split["test_rows"], dtype=np.int64)
    x = spec.matrix(frame_columns(spec, frame))[test_rows]
    y_all = target_vector(spec, frame)
    y = y_all[test_rows]
    results: dict[str, dict[str, Any]] = {}
    scores: dict[str, np.ndarray] = {}
    regression, multiclass = spec.task == "regression", spec.task == "multiclass"
    test_frame = frame.iloc[test_rows]
    slices_by: dict[str, Any] = {}
    for name, cand in trained.candidates.items():
        model = load_stored(store, name, cand.model_uri, cand.calibration_uri)
        scores[name] = model.predict(x)
        if regression:  # the served interval's coverage, overall and by slice
            results[name] = regression_metrics(y, scores[name])
            conformal = prediction_interval(model)  # None: the coverage gate fails
            results[name]["interval"] = conformal and interval_metrics(y, scores[name], conformal)
            slices_by[name] = slice_errors(
                contract.gates.slices,
                test_frame,
                y,
                scores[name],
                conformal,
                contract.gates.min_slice_rows,
            )
        elif multiclass:
            results[name] = multiclass_metrics(y, scores[name], spec.classes)
        else:
            results[name] = binary_metrics(y, scores[name], threshold=cand.threshold)
    champion, champion_scores = (
        champion_on(registry, dataset, store, frame, test_rows, y, spec)
        if registry
        else (None, None)
    )
    slices: dict[str, Any] = {}
    if regression:
        base: Any = trained.baseline
        times = timestamps(contract, frame)
        times = None if times is None else times[test_rows]
        base_predicted = baseline_predict(base, times, len(y))
        baseline = {"name": base["name"], **regression_metrics(y, base_predicted)}
        results["baseline"] = baseline
        held_out = HeldOut(y, scores, champion_scores, base_predicted, seed=contract.training.seed)
        decision = decide_regression(
            trained.chosen,
            results,
            contract.gates,
            baseline=baseline,
            champion=champion,
            held_out=held_out,
            slices_by_candidate=slices_by,
        )
        slices = slices_by[decision.winner]
    else:  # paired comparisons on these rows; the other candidate may win if the chosen fails
        by_candidate = {
            n: slice_metrics(contract, frame.iloc[test_rows], y, s) for n, s in scores.items()
        }
        # multiclass: the binary rules on the macro AUC, log loss and top-label calibration
        decision = (decide_multiclass if multiclass else decide)(
            trained.chosen,
            results,
            contract.gates,
            champion=champion,
            held_out=HeldOut(y, scores, champion_scores, seed=contract.training.seed),
            slices_by_candidate=by_candidate,
        )
        slices = by_candidate[decision.winner]
    chosen = decision.winner  # the candidate chosen on validation rows, unless it failed

    chosen_model = load_stored(
        store,
        chosen,
        trained.candidates[chosen].model_uri,
        trained.candidates[chosen].calibration_uri,
    )
    sample = np.arange(min(len(test_rows), 2000))
    contributions = chosen_model.contributions(x[sample])
    shap_summary = dict(
        zip(spec.names, np.abs(contributions).mean(axis=0).round(6).tolist(), strict=True)
    )
    evaluation = {
        "dataset": dataset,
        "run_id": run_id,
        "chosen": chosen,
        "chosen_on_validation": trained.chosen,
        "candidates": results,
        "champion": champion,
        "slices": slices,
        "decision": decision.to_dict(),
        "importance": trained.importance,
        "shap_mean_abs": shap_summary,
        "task": spec.task,
        "curves": {}
        if regression or multiclass
        else {name: curves(y, scores[name]) for name in scores},
        "residuals": residual_summary(y, scores[chosen]) if regression else None,
        "thresholds": {
            n: {
                "value": c.threshold,
                "reason": c.threshold_reason,
                "calibration": c.calibration,
            }
            for n, c in trained.candidates.items()
        },
        "rows": trained.rows.model_dump(),
        "split": trained.split,
        "test_positives": None if regression or multiclass else int(y.sum()),
        "labels": None
        if regression
        else class_balance(  # arrays: counted per class at once, not row by row
            spec.classes,
            y_all[np.asarray(split["train_rows"], dtype=np.int64)],
            y,
            scores[chosen],
        )
        if multiclass
        else label_balance(
            spec.positive_label,
            spec.negative_label,
            y_all[np.asarray(split["train_rows"], dtype=np.int64)].tolist(),
            y.tolist(),
            scores[chosen].tolist(),
        ),
        "test_rows": int(len(test_frame)),
    }
    base = f"reports/{dataset}/run={run_id}/evaluation"
    evaluation_uri = s3_uri(lake_bucket, f"{base}.json")
    store.put(evaluation_uri, json.dumps(evaluation, indent=1).encode(), "application/json")
    report_uri = s3_uri(model_bucket, f"{dataset}/runs/{run_id}/report.html")
    store.put(report_uri, evaluation_html(evaluation).encode(), "text/html")
    card_uri = s3_uri(model_bucket, f"{dataset}/runs/{run_id}/model_card.md")
    store.put(card_uri, model_card(evaluation, contract).encode(), "text/markdown")
    logger.info(
        "candidates evaluated",
        extra={"dataset": dataset, "run_id": run_id, "decision": decision.to_dict()},
    )
    out = {
        "promote": decision.promote,
        "winner": chosen,
        "metrics": summary(results[chosen]),
        "all_metrics": {
            n: (
                {"rmse": m["rmse"], "r2": m["r2"]}
                if regression
                else {"auc": m["auc"], "log_loss": m["log_loss"]}
                if multiclass
                else {"auc": m["auc"], "pr_auc": m["pr_auc"]}
            )
            for n, m in results.items()
        },
        "gates": decision.to_dict()["gates"],
        "failed_gates": decision.failed,
        "passed_over": decision.passed_over
        and {k: decision.passed_over[k] for k in ("candidate", "failed")},
        "champion_version": champion["version"] if champion else None,
        "threshold": trained.candidates[chosen].threshold,
        "labels": evaluation["labels"],
        "evaluation_uri": evaluation_uri,
        "report_uri": report_uri,
        "model_card_uri": card_uri,
    }
    return Evaluation.of(out)
