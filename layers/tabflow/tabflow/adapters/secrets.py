"""The PII salt from AWS Secrets Manager, through Powertools Parameters: read once, then kept
for ``SALT_MAX_AGE_SECONDS`` (a rotated secret is picked up within that time; a rotation
changes every hash, so rotate only with a re-ingest in mind)."""

from functools import cache
from typing import Any

from tabflow.adapters.clients import client
from tabflow.errors import PiiSaltUnavailable

SALT_MAX_AGE_SECONDS = 300


@cache
def _provider(secrets_client: Any) -> Any:
    # One provider (and its cache) per client: the process's shared client in Lambda; a new
    # one when tests or tools replace the clients (a new endpoint, a new secret). Imported
    # here: the parameters utility costs ~40 ms of cold start, paid only by datasets with PII.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=secrets_client)


def pii_salt(secret_id: str) -> str:
    """The salt for ``pii: hash`` columns. ``secret_id`` is the secret's ARN or name
    (PII_SALT_SECRET); any failure is ``PiiSaltUnavailable``, never an empty salt."""
    if not secret_id:
        raise PiiSaltUnavailable(
            "PII must be hashed but no salt secret is configured (PII_SALT_SECRET)"
        )
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = _provider(client("secretsmanager")).get(secret_id, max_age=SALT_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        raise PiiSaltUnavailable(f"the PII salt secret {secret_id} cannot be read: {exc}") from exc
    if not isinstance(value, str) or not value.strip():
        raise PiiSaltUnavailable(f"the PII salt secret {secret_id} is empty")
    return value
