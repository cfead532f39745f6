"""Named domain errors. Adapters translate AWS errors into these; the API maps them to HTTP
status codes in one place; Lambda tasks let them propagate so ASL Retry/Catch can match
them by name (the errorType is the class name)."""


class TabflowError(Exception):
    """Base class of every error this package raises on purpose."""


class TransientError(TabflowError):
    """A failure worth retrying (throttling, a dependency briefly unavailable)."""


class ContractError(TabflowError):
    """A dataset contract is missing or invalid."""


class ContractNotFound(ContractError):
    pass


class TargetUnresolved(ContractError):
    """The training data's target does not resolve to what the contract says (two classes,
    a positive label that matches rows); the message names the observed labels and counts."""


class SchemaError(TabflowError):
    """A file does not match its contract as a whole (missing columns, unreadable)."""

    def __init__(self, message: str, *, file: str = "", problems: list[str] | None = None):
        super().__init__(message)
        self.file = file
        self.problems = problems or [message]


class FileRejected(TabflowError):
    """A file was read but rejected whole (e.g. too many bad rows)."""


class ObjectNotFound(TabflowError):
    pass


class ObjectChanged(TabflowError):
    """The object under a key is no longer the one an event named (overwritten since)."""


class ModelNotFound(TabflowError):
    """No champion (or no such version) for a dataset."""


class ConcurrentUpdate(TabflowError):
    """A conditional write lost a race: someone else moved the pointer first."""


class BadRequest(TabflowError):
    """A client mistake. ``errors`` lists {record, field, problem} items for the response."""

    def __init__(self, message: str, errors: list[dict] | None = None, status: int = 422):
        super().__init__(message)
        self.errors = errors or []
        self.status = status


class PromotionConflict(ConcurrentUpdate):
    """A promotion lost the race for a version number or the champion pointer more times than
    it retries in place. Nothing of it is registered; the workflow retries it (ASL Retry)."""


class RunAlreadyPromoted(TabflowError):
    """This run already has a registered version (a retried Promote): nothing to do again."""


class ModelLoadError(TabflowError):
    """A registered version's files do not load or do not verify (sha256, parse, a probe
    prediction, where its URIs point)."""


class ModelUnavailable(TabflowError):
    """No registered version of a dataset loads: the API answers 503 naming the problems."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class InvalidDatasetName(BadRequest):
    """A dataset name taken from user input (an S3 key, an API path) breaks the naming rule.
    The API answers 404: no dataset can have that name."""

    def __init__(self, message: str):
        super().__init__(
            message, [{"record": None, "field": "dataset", "problem": message}], status=404
        )


class PiiSaltUnavailable(TabflowError):
    """PII must be hashed but there is no salt (no secret configured, unreadable or empty):
    nothing is hashed without one, and nothing raw is stored instead."""
