"""The new-user check (issue 11), on the shared datasets, through the real handlers under moto.

For each dataset: hold out a random 20% of the source rows (the latest 20% for a case
that names a time column: ``latest``); make the other 80% a messy
export (target spelled Yes/yes/Y/TRUE..., missing markers, duplicate rows, rows without an
id, a constant export column, renamed headers, a BOM and a ``;`` delimiter); run
``contract infer FILE --target T --positive P --id ID`` with no hand edit; drop the export
(ingest -> Prepare -> trials -> candidates -> Evaluate -> Promote, the state machine's
order); then send the held-out rows to the predict handler exactly as the source spells
them, 500 per request. Reported: records accepted, held-out AUC (binary) or RMSE
(regression) of the served scores against an untuned LightGBM trained on the run's training
rows, and the mean served score against the held-out positive rate (or mean target).

Multiclass cases (issue 15: ``flights_carrier``, ``hotel_rooms``) spell the target's classes
with case variants and padding (" ua", "UA ", "Ua") and call ``contract infer`` with only
``--target`` and ``--id``; reported: held-out macro and weighted one-vs-rest AUC, log loss and
accuracy of the served class probabilities against an untuned LightGBM multiclass (same
training rows, same held-out records), recall per class, and the mean served probability of
each class against its held-out share.

    .venv/bin/python -m bench.new_user [--only telco_churn] [--rows N]
"""

import argparse
import csv
import importlib.util
import io
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# The shared datasets: the folder TABFLOW_SHARED_DATA names, or ../shared/data beside the
# repository or beside the directory that holds it (a git worktree one level deeper).
SHARED = Path(
    os.environ.get("TABFLOW_SHARED_DATA")
    or next(
        (p / "shared" / "data" for p in ROOT.parents[:2] if (p / "shared" / "data").exists()),
        ROOT.parent / "shared" / "data",
    )
)
REGION = "us-east-1"
MARKERS = ["NA", "?", "", "none", " ", "N/A"]
TRUE_SPELLED = ["Yes", "yes", "Y", "TRUE"]
FALSE_SPELLED = ["No", "no", "N", "FALSE"]


@dataclass(frozen=True)
class Case:
    name: str
    source: Callable[[int | None], pd.DataFrame]  # the clean source rows, as text
    target: str
    positive: str | None  # None: regression
    id: str
    sprinkle: tuple[str, ...]  # columns that get missing markers in the export
    multiclass: bool = False  # positive is None then, and the target's values are classes
    # Hold out the latest 20% by this column (as the run's time split tests) instead of a
    # random 20%: a model chosen for later rows is then judged on later rows.
    latest: str | None = None

    @property
    def task(self) -> str:
        if self.multiclass:
            return "multiclass"
        return "regression" if self.positive is None else "binary"


def _telco(rows: int | None) -> pd.DataFrame:
    return pd.read_csv(ROOT / "datasets" / "telco_churn.csv", dtype=str, keep_default_na=False)


def _flights(rows: int | None) -> pd.DataFrame:
    """NYC flights 2013: will the flight arrive more than 15 minutes late? Only what is known
    at booking time is kept (no departure delay, no actual times)."""
    frame = pd.read_csv(SHARED / "flights_2013.csv.gz", dtype=str, keep_default_na=False)
    frame = frame[frame["arr_delay"] != ""].sample(n=rows or 20_000, random_state=3)
    frame["delayed"] = np.where(frame["arr_delay"].astype(float) > 15, "Yes", "No")
    keep = ["flight_id", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "origin"]
    return frame[[*keep, "dest", "distance", "hour", "delayed"]].reset_index(drop=True)


def _hotel(rows: int | None) -> pd.DataFrame:
    frame = pd.read_csv(SHARED / "hotel_rates.csv", dtype=str, keep_default_na=False)
    return frame.head(rows) if rows else frame


def _flights_carrier(rows: int | None) -> pd.DataFrame:
    """NYC flights 2013: which carrier operates a flight, from what the published schedule
    says before departure: the date, the scheduled departure and arrival times, origin,
    destination and distance. Left out: ``flight`` (the flight number is the carrier's own
    numbering) and ``tailnum`` (an aircraft belongs to one carrier's fleet), which would name
    the answer; the actual times, delays and ``air_time`` (known only after the flight);
    ``year`` (constant) and ``time_hour`` (the date and hour again). The scheduled times and
    the route remain strong clues (carriers own routes and slots): that is the real task.
    8,000 rows by default: tuning boosts a tree per class per round (14 carriers), and 20,000
    rows took over 25 minutes on a loaded 2-core machine, 8,000 about 7."""
    frame = pd.read_csv(SHARED / "flights_2013.csv.gz", dtype=str, keep_default_na=False)
    frame = frame.sample(n=min(rows or 8_000, len(frame)), random_state=5)
    keep = ["flight_id", "month", "day", "hour", "minute", "sched_dep_time", "sched_arr_time"]
    return frame[[*keep, "origin", "dest", "distance", "carrier"]].reset_index(drop=True)


def _hotel_rooms(rows: int | None) -> pd.DataFrame:
    """Hotel rates: which room type a booking reserves. ``assigned_room_type`` is left out
    (decided at check-in, and mostly the reserved type itself)."""
    return _hotel(rows).drop(columns=["assigned_room_type"])


CASES = {
    "telco_churn": Case(
        "telco_churn",
        _telco,
        "churn",
        "Yes",
        "customer_id",
        ("tenure", "payment_method", "internet_service", "total_charges"),
    ),
    "flights": Case(
        "flights", _flights, "delayed", "Yes", "flight_id", ("carrier", "distance", "dest")
    ),
    "hotel_rates": Case(
        "hotel_rates",
        _hotel,
        "avg_price_per_room",
        None,
        "booking_id",
        ("children", "meal", "country", "lead_time"),
    ),
    "flights_carrier": Case(
        "flights_carrier",
        _flights_carrier,
        "carrier",
        None,
        "flight_id",
        ("origin", "dest", "distance", "sched_arr_time"),
        multiclass=True,
    ),
    "hotel_rooms": Case(
        "hotel_rooms",
        _hotel_rooms,
        "reserved_room_type",
        None,
        "booking_id",
        ("children", "meal", "country", "lead_time"),
        multiclass=True,
        latest="arrival_date",
    ),
}


def _header(name: str) -> str:
    """How an export renames a header: 'senior_citizen' -> 'Senior Citizen'."""
    return " ".join(w.capitalize() for w in name.split("_"))


def messy_export(frame: pd.DataFrame, case: Case, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    if case.positive is not None:
        positive = out[case.target] == case.positive
        out[case.target] = np.where(
            positive, rng.choice(TRUE_SPELLED, len(out)), rng.choice(FALSE_SPELLED, len(out))
        )
    if case.multiclass:  # 5% each: " ua" (lower case, padded), "UA " (padded), "Ua"
        text = out[case.target].astype(str)
        draw = rng.random(len(out))
        out[case.target] = np.select(
            [draw < 0.05, draw < 0.10, draw < 0.15],
            [" " + text.str.lower(), text + " ", text.str.capitalize()],
            text,
        )
    for col in case.sprinkle:
        rows = rng.random(len(out)) < 0.02
        out.loc[rows, col] = rng.choice(MARKERS, rows.sum())
    no_id = rng.random(len(out)) < 0.01
    out.loc[no_id, case.id] = rng.choice(["", "NA", "?"], no_id.sum())
    copies = out.sample(frac=0.03, random_state=seed)
    out = pd.concat([out, copies]).sample(frac=1.0, random_state=seed + 1)
    out["exported_by"] = "crm-export-v2"
    out = out.rename(columns=_header)
    buffer = io.StringIO()
    out.to_csv(buffer, sep=";", index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()


def source_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as an application sends them: numbers as JSON numbers, blanks as null, text as
    the source writes it, field names as the source spells them."""

    def value(text: str) -> Any:
        if text == "":
            return None
        try:
            x = float(text)
        except ValueError:
            return text
        return int(x) if x.is_integer() and "." not in text and "e" not in text.lower() else x

    return [{k: value(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _handler(dep: Any, logical: str) -> Any:
    spec = dep.function_by_logical(logical)
    os.environ.update(spec.environment)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
    module_spec = importlib.util.spec_from_file_location(
        f"new_user_{logical}_{uuid.uuid4().hex}", spec.code_dir / "app.py"
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


class _Context:
    function_name = "new-user"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:new-user"
    aws_request_id = "new-user"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _predict_event(dataset: str, records: list[dict]) -> dict:
    return {
        "resource": "/v1/datasets/{dataset}/predict",
        "path": f"/v1/datasets/{dataset}/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": {"explain": "false"},
        "pathParameters": {"dataset": dataset},
        "requestContext": {"requestId": uuid.uuid4().hex, "stage": "v1"},
        "body": json.dumps({"records": records}),
        "isBase64Encoded": False,
    }


def serve(
    predict: Any,
    dataset: str,
    records: list[dict],
    intervals: dict[int, list] | None = None,
    probabilities: dict[int, dict] | None = None,
) -> tuple[dict[int, float], list]:
    """Score every record, 500 per request; a 422 names its records: they are set aside and
    the rest sent again. Returns {record index: score} and the refused (index, problem);
    fills ``intervals`` with a regression's served [low, high] and ``probabilities`` with a
    multiclass model's {class: probability}."""
    scores: dict[int, float] = {}
    refused: list[tuple[int, str]] = []
    for start in range(0, len(records), 500):
        todo = list(range(start, min(start + 500, len(records))))
        while todo:
            resp = predict.lambda_handler(
                _predict_event(dataset, [records[i] for i in todo]), _Context()
            )
            body = json.loads(resp["body"])
            if resp["statusCode"] == 200:
                scores.update(
                    (i, p["score"]) for i, p in zip(todo, body["predictions"], strict=True)
                )
                if intervals is not None:
                    intervals.update(
                        (i, p["interval"])
                        for i, p in zip(todo, body["predictions"], strict=True)
                        if "interval" in p
                    )
                if probabilities is not None:
                    probabilities.update(
                        (i, p["probabilities"])
                        for i, p in zip(todo, body["predictions"], strict=True)
                        if "probabilities" in p
                    )
                break
            if resp["statusCode"] != 422:
                raise RuntimeError(f"predict answered {resp['statusCode']}: {body}")
            bad = {e["record"] for e in body["errors"]}
            refused += [
                (todo[e["record"]], f"{e['field']}: {e['problem']}") for e in body["errors"]
            ]
            todo = [i for j, i in enumerate(todo) if j not in bad]
    return scores, refused


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from tabflow.evaluation.metrics import roc_auc

    return float(roc_auc(y, s))


def untuned_lightgbm(
    spec: Any, frame: pd.DataFrame, rows: list[int], records: list[dict]
) -> np.ndarray:
    """LightGBM with its default parameters on the rows the champion trained on (the run's
    training rows of the curated file), scoring the same accepted records through the same
    feature spec."""
    import lightgbm as lgb

    from tabflow.serving.records import records_to_columns
    from tabflow.training import frame_columns, target_vector

    x = spec.matrix(frame_columns(spec, frame))[rows]
    y = target_vector(spec, frame)[rows]
    if spec.task == "multiclass":  # as tests/integration/test_multiclass_pipeline.py
        from tabflow.models.lightgbm import lightgbm_dataset

        params = {"objective": "multiclass", "num_class": len(spec.classes), "verbosity": -1}
        data = lightgbm_dataset(spec, x, y)
    else:
        regression = spec.task == "regression"
        params = {"objective": "regression" if regression else "binary", "verbose": -1}
        data = lgb.Dataset(x, y, categorical_feature=spec.categorical_indices or "auto")
    booster = lgb.train({**params, "seed": 1}, data, num_boost_round=100)
    return booster.predict(spec.serving_matrix(records_to_columns(spec, records)))


def run_case(case: Case, rows: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The whole check for one dataset inside a fresh mock_aws; returns its figures."""
    import boto3
    from moto import mock_aws

    from offline_aws.deploy import deploy
    from tabflow.adapters.clients import client as cached_client
    from tabflow.cli import contract_main
    from tabflow.features import FeatureSpec

    started = time.perf_counter()
    source = case.source(rows)
    if case.latest:
        held_out = source.sort_values(case.latest, kind="stable").tail(round(len(source) * 0.2))
    else:
        held_out = source.sample(frac=0.2, random_state=seed)
    train_part = source.drop(index=held_out.index)
    export = messy_export(train_part, case, seed)
    flags = ["--target", _header(case.target), "--id", _header(case.id)]
    if case.task == "binary":
        flags += ["--positive", case.positive]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{case.name}_export.csv"
        path.write_bytes(export)
        out = io.StringIO()
        from contextlib import redirect_stdout

        with redirect_stdout(out):
            assert contract_main(["infer", str(path), "--dataset", case.name, *flags]) == 0
        contract_text = out.getvalue()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            cached_client.cache_clear()
            dep = deploy(
                ROOT, f"new-user-{case.name}", lambda s: boto3.client(s, region_name=REGION)
            )
            s3 = boto3.client("s3", region_name=REGION)
            raw = dep.ref("RawBucket")
            s3.put_object(
                Bucket=raw, Key=f"contracts/{case.name}.yaml", Body=contract_text.encode()
            )
            key = f"incoming/{case.name}/export.csv"
            etag = s3.put_object(Bucket=raw, Key=key, Body=export)["ETag"].strip('"')
            event = {
                "Records": [
                    {
                        "eventSource": "aws:s3",
                        "eventName": "ObjectCreated:Put",
                        "s3": {
                            "bucket": {"name": raw},
                            "object": {"key": key, "size": len(export), "eTag": etag},
                        },
                    }
                ]
            }
            ingested = _handler(dep, "IngestFunction").lambda_handler(event, _Context())
            (file,) = ingested["files"]
            sfn = boto3.client("stepfunctions", region_name=REGION)
            (execution,) = sfn.list_executions(stateMachineArn=dep.ref("TrainingStateMachine"))[
                "executions"
            ]
            state = json.loads(
                sfn.describe_execution(executionArn=execution["executionArn"])["input"]
            )
            state["prepare"] = _handler(dep, "PrepareFunction").prepare_handler(state, _Context())
            trial = _handler(dep, "TrialFunction").trial_handler
            state["trials"] = [
                trial({**state, "trial": t, "split_uri": state["prepare"]["split_uri"]}, _Context())
                for t in state["prepare"]["trials"]
            ]
            train = _handler(dep, "TrainFunction").lambda_handler
            results = [
                train({"candidate": c, "run": state}, _Context()) for c in ("lightgbm", "linear")
            ]
            state["train"] = _handler(dep, "SelectFunction").select_handler(
                {"results": results}, _Context()
            )
            evaluation = _handler(dep, "EvaluateFunction").lambda_handler(state, _Context())
            state["evaluation"] = evaluation
            figures: dict[str, Any] = {
                "dataset": case.name,
                "export_rows": file["counts"]["rows_in"],
                "curated": file["counts"]["curated"],
                "quarantined": file["counts"]["quarantined"],
                "duplicates": file["counts"].get("duplicates"),
                "winner": evaluation["winner"],
                "promoted": evaluation["promote"],
                "failed_gates": evaluation["failed_gates"],
                "failed_gate_details": [
                    g["detail"] for g in evaluation["gates"] if not g["passed"]
                ],
            }
            if not evaluation["promote"]:
                return figures
            _handler(dep, "PromoteFunction").lambda_handler(state, _Context())
            records = source_records(held_out.drop(columns=[case.target]))
            intervals: dict[int, list] = {}
            classes: dict[int, dict] = {}
            scores, refused = serve(
                _handler(dep, "PredictFunction"), case.name, records, intervals, classes
            )
            accepted = sorted(scores)
            served = np.array([scores[i] for i in accepted])
            truth = held_out[case.target].to_numpy()[accepted]
            spec = FeatureSpec.from_json(
                s3.get_object(**_split(state["train"]["spec_uri"]))["Body"].read()
            )
            from tabflow.adapters.tables import WranglerTables

            curated = WranglerTables().read_parquet(state["curated_uri"])
            split = json.loads(
                s3.get_object(**_split(state["prepare"]["split_uri"]))["Body"].read()
            )
            reference = untuned_lightgbm(
                spec, curated, split["train_rows"], [records[i] for i in accepted]
            )
            figures |= {
                "held_out": len(records),
                "accepted": len(accepted),
                "accepted_share": round(len(accepted) / len(records), 4),
                "refused_examples": refused[:5],
            }
            if case.multiclass:
                figures |= multiclass_figures(spec, truth, classes, accepted, reference)
                figures["test_macro_auc"] = evaluation["metrics"].get("auc")
            elif case.positive is None:
                y = truth.astype(float)
                figures |= {
                    "rmse": round(float(np.sqrt(np.mean((served - y) ** 2))), 3),
                    "untuned_lightgbm_rmse": round(
                        float(np.sqrt(np.mean((reference - y) ** 2))), 3
                    ),
                    "mean_prediction": round(float(served.mean()), 3),
                    "mean_target": round(float(y.mean()), 3),
                }
                if intervals:  # the served interval on the held-out rows
                    bounds = np.array([intervals[i] for i in accepted], dtype=float)
                    inside = (bounds[:, 0] <= y) & (y <= bounds[:, 1])
                    figures |= {
                        "interval_coverage": round(float(inside.mean()), 4),
                        "interval_mean_width": round(
                            float(np.mean(bounds[:, 1] - bounds[:, 0])), 3
                        ),
                        "test_coverage": evaluation["metrics"].get("coverage"),
                    }
            else:
                y = (truth == case.positive).astype(int)
                figures |= {
                    "auc": round(_auc(y, served), 4),
                    "untuned_lightgbm_auc": round(_auc(y, reference), 4),
                    "mean_score": round(float(served.mean()), 4),
                    "positive_rate": round(float(y.mean()), 4),
                }
            figures["seconds"] = round(time.perf_counter() - started, 1)
            return figures
    finally:
        cached_client.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def multiclass_figures(
    spec: Any,
    truth: np.ndarray,
    served: dict[int, dict],
    accepted: list[int],
    reference: np.ndarray,
) -> dict[str, Any]:
    """The served class probabilities on the held-out records against their true classes
    (as the source spells them; a class merged at training counts as ``other``), beside the
    untuned LightGBM's on the same records. A held-out row whose class the model does not
    know (left out of the contract's categories, or never in the export) is not scored and
    is counted."""
    from tabflow.evaluation.metrics import multiclass_metrics

    labels = [str(c) for c in spec.classes]
    index = {c.strip().lower(): i for i, c in enumerate(labels)}
    merged = {str(c).strip().lower() for c in spec.merged}
    other = index.get("other")
    codes = []
    for value in truth:
        key = str(value).strip().lower()
        codes.append(index.get(key, other if key in merged else None))
    scored = np.array([c is not None for c in codes])
    y = np.array([c for c in codes if c is not None], dtype=np.int64)
    p = np.array([[served[i][c] for c in labels] for i in accepted], dtype=float)[scored]
    ours = multiclass_metrics(y, p, labels)
    theirs = multiclass_metrics(y, reference[scored], labels)
    share = np.bincount(y, minlength=len(labels)) / len(y)
    return {
        "classes": labels,
        "merged_into_other": [str(c) for c in spec.merged],
        "held_out_unknown_class": int((~scored).sum()),
        "macro_auc": round(ours["auc"], 4),
        "untuned_lightgbm_macro_auc": round(theirs["auc"], 4),
        "weighted_auc": round(ours["weighted_auc"], 4),
        "untuned_lightgbm_weighted_auc": round(theirs["weighted_auc"], 4),
        "log_loss": round(ours["log_loss"], 4),
        "untuned_lightgbm_log_loss": round(theirs["log_loss"], 4),
        "accuracy": round(ours["accuracy"], 4),
        "untuned_lightgbm_accuracy": round(theirs["accuracy"], 4),
        "recall": {c: v["recall"] for c, v in ours["per_class"].items()},
        "mean_probability": dict(zip(labels, np.round(p.mean(axis=0), 4).tolist(), strict=True)),
        "held_out_share": dict(zip(labels, np.round(share, 4).tolist(), strict=True)),
    }


def _split(uri: str) -> dict[str, str]:
    bucket, key = uri[5:].split("/", 1)
    return {"Bucket": bucket, "Key": key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="one dataset: " + ", ".join(CASES))
    parser.add_argument("--rows", type=int, help="source rows to use (default: the dataset's)")
    args = parser.parse_args()
    for name, case in CASES.items():
        if args.only and name != args.only:
            continue
        if name != "telco_churn" and not SHARED.exists():
            print(json.dumps({"dataset": name, "skipped": f"{SHARED} not found"}))
            continue
        print(json.dumps(run_case(case, args.rows)), flush=True)


if __name__ == "__main__":
    main()
