"""AWS clients, created once per process (they are expensive: ~50 ms each).

The endpoint comes from the standard AWS_ENDPOINT_URL variable, so the same code talks to
AWS or to the offline AWS without special cases."""

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]
