"""PII: the contract's ``pii`` policy, applied in one place for every path that stores data.

``pii: drop`` removes the column; ``pii: hash`` replaces each value with HMAC-SHA256 keyed by
the salt in the ``PiiSaltSecret`` (64 hex characters): the same value hashes the same way in
curated data, batch predictions, API captures and label joins, so joins work, and without the
secret a dictionary of likely values (customer numbers, e-mail addresses) cannot reverse it.
Missing stays missing. There is no unsalted fallback: hashing with an empty salt raises
``PiiSaltUnavailable``.

Where each path applies it (see the README's PII section):
- ingest: validation hashes/drops the columns before anything is curated; the validation
  report's per-column examples and top values of PII columns are redacted;
- batch scoring: the same validation with the same salt, so the predictions file, the
  captured rows and the report hold hashes only;
- the API: the champion's feature spec records the policy of its fields; a request's PII
  fields (the entity of per-entity features) are hashed before scoring, as training saw
  them, and the captured id is hashed;
- monitoring: label ids are hashed before joining the (hashed) captured ids, so labelled
  captures merge into curated data under the same key.
The quarantine files (``quarantine/`` in the raw bucket) keep the raw rows by design: they
are for the person who fixes the file, in the same bucket (and trust zone) as the file.

Pure Python (hmac, hashlib): the prediction path imports it without numpy or pandas."""

import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from tabflow.errors import PiiSaltUnavailable

HASH = "sha256"
REDACTED = "[redacted: pii]"


class _HasPii(Protocol):
    pii: str


def _key(salt: str) -> bytes:
    if not salt:
        raise PiiSaltUnavailable(
            "refusing to hash PII with an empty salt (the PiiSaltSecret is missing or empty)"
        )
    return salt.encode()


def canonical(value: Any) -> str:
    """The text that is hashed: strings without surrounding whitespace (as validation trims
    them), anything else as ``str``. Ingest, the API and label files agree on it."""
    return value.strip() if isinstance(value, str) else str(value)


def hash_value(value: Any, salt: str) -> str | None:
    """HMAC-SHA256(salt, value) as hex; None (missing) stays None."""
    key = _key(salt)
    return None if value is None else hmac.digest(key, canonical(value).encode(), HASH).hex()


def hash_many(values: Iterable[Any], salt: str) -> list[str | None]:
    key = _key(salt)
    digest = hmac.digest
    return [None if v is None else digest(key, canonical(v).encode(), HASH).hex() for v in values]


def policy(columns: Mapping[str, _HasPii]) -> dict[str, str]:
    """{column: "hash" | "drop"} of the columns a contract declares as PII."""
    return {name: col.pii for name, col in columns.items() if col.pii in ("hash", "drop")}


def needs_salt(pii: Mapping[str, str], names: Iterable[str | None]) -> bool:
    return any(name is not None and pii.get(name) == "hash" for name in names)


def apply_to_value(value: Any, rule: str | None, salt: str) -> Any:
    """One value under its column's rule: hashed, dropped (None) or as it is."""
    if rule == "hash":
        return hash_value(value, salt)
    if rule == "drop":
        return None
    return value


def hash_record_fields(records: list[Any], names: Sequence[str], salt: str) -> list[Any]:
    """API records with the named fields hashed (copies; the caller's records are unchanged).

    Only scalar values are hashed (a string, or a number for a text field); anything else
    (a list, an object, a boolean) is left for request validation to reject with its usual
    message, rather than turned into a valid-looking hash."""
    key = _key(salt)
    out = []
    for record in records:
        if isinstance(record, dict) and any(name in record for name in names):
            record = dict(record)
            for name in names:
                value = record.get(name)
                if isinstance(value, str) or (
                    isinstance(value, int | float) and not isinstance(value, bool)
                ):
                    record[name] = hmac.digest(key, canonical(value).encode(), HASH).hex()
        out.append(record)
    return out


def redact_summaries(
    summaries: dict[str, dict[str, Any]], pii: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Validation report column summaries without PII values: the invalid examples of a PII
    column keep their reason but not their value (it is the raw text), and no top values."""
    out = {}
    for name, summary in summaries.items():
        if name in pii:
            summary = {k: v for k, v in summary.items() if k not in ("top_values", "distinct")}
            summary["invalid_examples"] = [
                {**e, "value": REDACTED} for e in summary.get("invalid_examples", [])
            ]
            summary["pii"] = pii[name]
        out[name] = summary
    return out


def hash_keys(mapping: Mapping[str, Any], salt: str) -> dict[str, Any]:
    """A mapping keyed by raw values (label ids) re-keyed by their hashes."""
    key = _key(salt)
    return {hmac.digest(key, canonical(k).encode(), HASH).hex(): v for k, v in mapping.items()}


def label_ids(
    labels: Mapping[str, Any], rule: str | None, salt: Callable[[], str] | None
) -> dict[str, Any]:
    """Delayed labels (keyed by the ids their files hold, raw) keyed as the captures are: by
    the hashed id when the id column is ``pii: hash``, so labels join captured predictions
    and labelled captures merge into curated data under the same key. ``salt`` is called
    only then."""
    if rule != "hash":
        return dict(labels)
    if salt is None:
        raise PiiSaltUnavailable("the id column is PII to hash but no salt is set")
    return hash_keys(labels, salt())
