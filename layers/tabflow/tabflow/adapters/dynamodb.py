"""Registry on DynamoDB: one item per model version, one champion pointer per dataset.

Keys: pk = dataset; sk = "v#000001" for versions, "champion" for the pointer. The pointer
moves only by conditional write, so two concurrent promotions cannot lose an update."""

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.errors import ConcurrentUpdate, ModelNotFound
from tabflow.ports import ModelVersion

CHAMPION = "champion"


def _sk(version: int) -> str:
    return f"v#{version:06d}"


class DynamoRegistry:
    def __init__(self, table: str, ddb: Any | None = None) -> None:
        self._table = table
        self._ddb = ddb or client("dynamodb")

    def next_version(self, dataset: str) -> int:
        resp = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :d AND begins_with(sk, :v)",
            ExpressionAttributeValues={":d": {"S": dataset}, ":v": {"S": "v#"}},
            ScanIndexForward=False,
            Limit=1,
            ProjectionExpression="sk",
        )
        items = resp.get("Items", [])
        return 1 if not items else int(items[0]["sk"]["S"][2:]) + 1

    def put_version(self, version: ModelVersion) -> None:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": version.dataset},
                    "sk": {"S": _sk(version.version)},
                    "doc": {"S": version.model_dump_json()},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(
                    f"{version.dataset} v{version.version} already exists"
                ) from exc
            raise

    def get_version(self, dataset: str, version: int) -> ModelVersion:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": dataset}, "sk": {"S": _sk(version)}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            raise ModelNotFound(f"{dataset} v{version} is not in the registry")
        return ModelVersion.model_validate_json(item["doc"]["S"])

    def list_versions(self, dataset: str) -> list[ModelVersion]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :d AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":d": {"S": dataset}, ":v": {"S": "v#"}},
        }
        while True:
            resp = self._ddb.query(**kwargs)
            items += resp.get("Items", [])
            if "LastEvaluatedKey" not in resp:
                return [ModelVersion.model_validate_json(i["doc"]["S"]) for i in items]
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def champion(self, dataset: str) -> ModelVersion | None:
        pointer = self._champion_version(dataset)
        return None if pointer is None else self.get_version(dataset, pointer)

    def _champion_version(self, dataset: str) -> int | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": dataset}, "sk": {"S": CHAMPION}},
            ConsistentRead=True,
        ).get("Item")
        return None if not item else int(item["version"]["N"])

    def set_champion(self, dataset: str, version: int, *, expected: int | None) -> None:
        if expected is None:
            condition = "attribute_not_exists(pk)"
            values: dict[str, Any] = {}
        else:
            condition = "version = :expected"
            values = {":expected": {"N": str(expected)}}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": dataset},
                    "sk": {"S": CHAMPION},
                    "version": {"N": str(version)},
                    "updated_at": {"S": datetime.now(UTC).isoformat()},
                    "previous": {"S": json.dumps(expected)},
                },
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(
                    f"{dataset}: the champion moved (expected v{expected}); not promoting v{version}"
                ) from exc
            raise

    def datasets(self) -> list[str]:
        out: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :c",
            "ExpressionAttributeValues": {":c": {"S": CHAMPION}},
            "ProjectionExpression": "pk",
        }
        while True:
            resp = self._ddb.scan(**kwargs)
            out.update(i["pk"]["S"] for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return sorted(out)
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
