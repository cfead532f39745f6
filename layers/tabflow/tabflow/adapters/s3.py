"""ObjectStore on S3 (boto3)."""

from typing import Any

from botocore.exceptions import ClientError

from tabflow.adapters.clients import client
from tabflow.errors import ObjectChanged, ObjectNotFound, TransientError
from tabflow.ports import s3_uri, split_uri

_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


class S3Store:
    def __init__(self, s3: Any | None = None) -> None:
        self._s3 = s3 or client("s3")

    def get(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise _translate(exc, uri) from exc

    def get_exact(self, uri: str, *, version: str | None, etag: str | None) -> bytes:
        bucket, key = split_uri(uri)
        extra = {"VersionId": version} if version else {"IfMatch": etag} if etag else {}
        try:
            return self._s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        except ClientError as exc:
            raise _translate(exc, uri) from exc

    def head(self, uri: str) -> dict[str, Any]:
        bucket, key = split_uri(uri)
        try:
            return self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            raise _translate(exc, uri) from exc

    def put(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        bucket, key = split_uri(uri)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except ClientError as exc:
            raise _translate(exc, uri) from exc

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = split_uri(prefix_uri)
        out: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            out.extend(s3_uri(bucket, o["Key"]) for o in page.get("Contents", []))
        return sorted(out)


def _translate(exc: ClientError, uri: str) -> Exception:
    code = exc.response.get("Error", {}).get("Code", "")
    if code in ("NoSuchKey", "NoSuchVersion", "404", "NotFound", "NoSuchBucket"):
        return ObjectNotFound(f"{uri}: {code}")
    if code in ("PreconditionFailed", "412"):  # IfMatch: overwritten since the event
        return ObjectChanged(f"{uri}: replaced since the event ({code})")
    if code in _TRANSIENT:
        return TransientError(f"{uri}: {code}")
    return exc
