"""What the workflow's tasks share without the data stack (plain Python): reading the
contract, where a task run as a Batch job leaves its result, and collecting results."""

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from tabflow.contract import Contract, parse_contract
from tabflow.ports import ObjectStore, s3_uri


def load_contract(store: ObjectStore, uri: str) -> Contract:
    return parse_contract(store.get(uri), source=uri)


def job_result_uri(model_bucket: str, dataset: str, run_id: str, task: str) -> str:
    """Where a training task run as an AWS Batch job leaves its result (the state machine
    computes the same key: States.Format in training.asl.json)."""
    return s3_uri(model_bucket, f"{dataset}/runs/{run_id}/jobs/{task}.json")


def collect_results(
    items: Sequence[dict[str, Any] | BaseModel] | None, store: ObjectStore
) -> list[dict[str, Any]]:
    """Task results as the workflow passes them on: inline (a Lambda's return value), or a
    ``{"result_uri": ...}`` pointer to the JSON a Batch job wrote (a job returns nothing);
    given as JSON or as their models (``workflow.payloads``)."""
    out = []
    for item in items or []:
        if isinstance(item, BaseModel):
            item = item.model_dump(mode="json", exclude_unset=True)
        out.append(
            json.loads(store.get(item["result_uri"])) if set(item) == {"result_uri"} else item
        )
    return out
