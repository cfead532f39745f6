"""The dataset naming rule, checked once at the edge.

A dataset name becomes part of S3 keys (``curated/<dataset>/run=…``), DynamoDB keys, email
subjects and execution inputs, so a name taken from user input (an S3 key, an API path, a
contract) is checked here before it shapes anything: ``..``, slashes, spaces, control
characters, upper case and names past 63 characters are refused."""

import re

from tabflow.errors import InvalidDatasetName

DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_DATASET_NAME = re.compile(DATASET_NAME_PATTERN)
RULE = (
    "a dataset name is 1 to 63 characters: lowercase letters, digits, '_' and '-', "
    "starting with a letter or a digit"
)


def shown(name: str, limit: int = 60) -> str:
    """A name as it may appear in a message or an email: quoted, escaped, bounded."""
    text = repr(name[:limit])
    return text if len(name) <= limit else f"{text}… ({len(name)} characters)"


def check_dataset_name(name: str) -> str:
    """The name itself when it follows the rule; InvalidDatasetName otherwise."""
    if isinstance(name, str) and _DATASET_NAME.fullmatch(name):
        return name
    raise InvalidDatasetName(f"invalid dataset name {shown(str(name))}: {RULE}")
