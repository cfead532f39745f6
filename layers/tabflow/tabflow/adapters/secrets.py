"""Secrets from AWS Secrets Manager, read once per process."""

from functools import cache

from tabflow.adapters.clients import client
from tabflow.errors import ContractError


@cache
def secret_value(secret_id: str) -> str:
    if not secret_id:
        raise ContractError(
            "a contract hashes PII but no salt secret is configured (PII_SALT_SECRET)"
        )
    return client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
