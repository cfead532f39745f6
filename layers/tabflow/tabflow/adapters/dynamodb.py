"""Registry on DynamoDB: one item per model version, one champion pointer per dataset, one
marker per promoted run, and the incidents the API has alerted about.

Keys: pk = dataset; sk = "v#000001" for versions, "champion" for the pointer, "run#<run_id>"
for the run that made a version. A promotion writes the three in one TransactWriteItems, each
conditioned (number free, run not yet promoted, pointer where the promoter saw it), so two
concurrent promotions can never share a number or lose a pointer move. Incidents live under
pk = "incident#<dataset>" (the serving functions may write only those keys)."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.errors import (
    ConcurrentUpdate,
    ModelNotFound,
    RunAlreadyPromoted,
    TransientError,
)
from tabflow.ports import ModelVersion

CHAMPION = "champion"
# Worth retrying: throttling, a service hiccup, a transaction that collided with another one
# (botocore retries the throttling codes itself first; what is left goes to ASL Retry).
_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}


def _sk(version: int) -> str:
    return f"v#{version:06d}"


def _run_sk(run_id: str) -> str:
    return f"run#{run_id}"


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class DynamoRegistry:
    def __init__(self, table: str, ddb: Any | None = None) -> None:
        self._table = table
        self._ddb = ddb or client("dynamodb")

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call; throttling and service errors become TransientError."""
        method: Callable[..., dict[str, Any]] = getattr(self._ddb, operation)
        try:
            return method(TableName=self._table, **kwargs)
        except ClientError as exc:
            if _code(exc) in _TRANSIENT:
                raise TransientError(f"registry {operation}: {_code(exc)}") from exc
            raise

    def latest_version(self, dataset: str) -> int:
        resp = self._call(
            "query",
            KeyConditionExpression="pk = :d AND begins_with(sk, :v)",
            ExpressionAttributeValues={":d": {"S": dataset}, ":v": {"S": "v#"}},
            ScanIndexForward=False,
            Limit=1,
            ProjectionExpression="sk",
            ConsistentRead=True,
        )
        items = resp.get("Items", [])
        return 0 if not items else int(items[0]["sk"]["S"][2:])

    def register(self, version: ModelVersion, *, expected: int | None) -> None:
        d = {"S": version.dataset}
        pointer: dict[str, Any] = {
            "Put": {
                "TableName": self._table,
                "Item": self._pointer_item(version.dataset, version.version, expected),
                **self._pointer_condition(expected),
            }
        }
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": d,
                        "sk": {"S": _sk(version.version)},
                        "doc": {"S": version.model_dump_json()},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": d,
                        "sk": {"S": _run_sk(version.run_id)},
                        "version": {"N": str(version.version)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            pointer,
        ]
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                if _code(exc) in _TRANSIENT:
                    raise TransientError(f"registry transaction: {_code(exc)}") from exc
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if len(reasons) == 3 and reasons[1] == "ConditionalCheckFailed":
                raise RunAlreadyPromoted(
                    f"{version.dataset}: run {version.run_id} already has a version"
                ) from exc
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise ConcurrentUpdate(
                    f"{version.dataset}: v{version.version} was taken or the champion moved "
                    f"(expected v{expected}); reasons {reasons}"
                ) from exc
            if any(r in _TRANSIENT for r in reasons):
                raise TransientError(f"registry transaction: {reasons}") from exc
            raise

    def version_of_run(self, dataset: str, run_id: str) -> ModelVersion | None:
        item = self._call(
            "get_item",
            Key={"pk": {"S": dataset}, "sk": {"S": _run_sk(run_id)}},
            ConsistentRead=True,
        ).get("Item")
        return None if not item else self.get_version(dataset, int(item["version"]["N"]))

    def put_version(self, version: ModelVersion) -> None:
        try:
            self._call(
                "put_item",
                Item={
                    "pk": {"S": version.dataset},
                    "sk": {"S": _sk(version.version)},
                    "doc": {"S": version.model_dump_json()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(
                    f"{version.dataset} v{version.version} already exists"
                ) from exc
            raise

    def get_version(self, dataset: str, version: int) -> ModelVersion:
        item = self._call(
            "get_item",
            Key={"pk": {"S": dataset}, "sk": {"S": _sk(version)}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            raise ModelNotFound(f"{dataset} v{version} is not in the registry")
        return ModelVersion.model_validate_json(item["doc"]["S"])

    def list_versions(self, dataset: str) -> list[ModelVersion]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :d AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":d": {"S": dataset}, ":v": {"S": "v#"}},
        }
        while True:
            resp = self._call("query", **kwargs)
            items += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return [ModelVersion.model_validate_json(i["doc"]["S"]) for i in items]
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def champion(self, dataset: str) -> ModelVersion | None:
        pointer = self._champion_version(dataset)
        return None if pointer is None else self.get_version(dataset, pointer)

    def _champion_version(self, dataset: str) -> int | None:
        item = self._call(
            "get_item",
            Key={"pk": {"S": dataset}, "sk": {"S": CHAMPION}},
            ConsistentRead=True,
        ).get("Item")
        return None if not item else int(item["version"]["N"])

    @staticmethod
    def _pointer_item(dataset: str, version: int, expected: int | None) -> dict[str, Any]:
        return {
            "pk": {"S": dataset},
            "sk": {"S": CHAMPION},
            "version": {"N": str(version)},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
            "previous": {"S": json.dumps(expected)},
        }

    @staticmethod
    def _pointer_condition(expected: int | None) -> dict[str, Any]:
        if expected is None:
            return {"ConditionExpression": "attribute_not_exists(pk)"}
        return {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(expected)}},
        }

    def set_champion(self, dataset: str, version: int, *, expected: int | None) -> None:
        try:
            self._call(
                "put_item",
                Item=self._pointer_item(dataset, version, expected),
                **self._pointer_condition(expected),
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(
                    f"{dataset}: the champion moved (expected v{expected}); not promoting v{version}"
                ) from exc
            raise

    def datasets(self) -> list[str]:
        out: set[str] = set()
        kwargs: dict[str, Any] = {
            "FilterExpression": "sk = :c",
            "ExpressionAttributeValues": {":c": {"S": CHAMPION}},
            "ProjectionExpression": "pk",
        }
        while True:
            resp = self._call("scan", **kwargs)
            out.update(i["pk"]["S"] for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(out)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def open_incident(self, dataset: str, incident: str, detail: str) -> bool:
        try:
            self._call(
                "put_item",
                Item={
                    "pk": {"S": f"incident#{dataset}"},
                    "sk": {"S": incident},
                    "detail": {"S": detail[:4000]},
                    "opened_at": {"S": datetime.now(UTC).isoformat()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget_incident(self, dataset: str, incident: str) -> None:
        self._call("delete_item", Key={"pk": {"S": f"incident#{dataset}"}, "sk": {"S": incident}})
