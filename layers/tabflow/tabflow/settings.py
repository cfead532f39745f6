"""Function settings, read from environment variables once at start (see template Globals).

Domain code receives these objects; it never reads ``os.environ`` itself."""

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tabflow.limits import DEFAULT_MAX_BYTES
from tabflow.recipients import RecipientPolicy


class MailSettings(BaseSettings):
    """Who may receive email (every function that mails: see adapters/ses.py)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    sender_email: str = "tabflow-alerts@example.com"
    # Comma-separated strings in the environment (template parameters).
    alert_recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A contract's notify list may name addresses of these domains (and their subdomains);
    # empty: the AlertRecipients' own domains.
    allowed_recipient_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("alert_recipients", "allowed_recipient_domains", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value

    @property
    def recipient_policy(self) -> RecipientPolicy:
        return RecipientPolicy.of(self.alert_recipients, self.allowed_recipient_domains)


class Settings(MailSettings):
    raw_bucket: str
    lake_bucket: str
    model_bucket: str
    registry_table: str
    code_version: str = "dev"
    stage: str = "dev"
    # The PiiSaltSecret's ARN, for the functions that store data (ingest, batch, predict,
    # monitor); read through adapters/secrets.py only when a contract hashes a column.
    pii_salt_secret: str = ""


class IngestLimits(Settings):
    """Ingest and batch scoring: the size of a dropped object, and of its content after
    decompression (MaxDecompressedBytes). Measured, ingest costs 8 to 14 times the text
    (duplicate-heavy files the most), so the default of 128 MiB keeps the functions' peak
    near 2 GB of their 3008 MB; raise it with MemorySize."""

    max_file_bytes: int = 1024 * 1024 * 1024
    max_decompressed_bytes: int = Field(DEFAULT_MAX_BYTES, gt=0)


class IngestSettings(IngestLimits):
    state_machine_arn: str
    idempotency_table: str


class BatchSettings(IngestLimits):
    idempotency_table: str  # a scored file is remembered: a repeated event scores nothing


class TrainingSettings(Settings):
    # Where tuning trials and candidates run: "lambda", "batch" (AWS Batch jobs of the same
    # code), or "auto" (batch once rows x features passes batch_switch_cells).
    training_engine: Literal["lambda", "batch", "auto"] = "lambda"
    batch_switch_cells: int = 40_000_000


class PredictSettings(Settings):
    model_cache_ttl_seconds: float = 60.0
    max_records: int = 1000
    max_body_bytes: int = 2 * 1024 * 1024
    # The longest an invocation waits for its captures to be written (tabflow.serving.capture)
    capture_max_wait_seconds: float = 5.0


class MonitorSettings(Settings):
    state_machine_arn: str = ""  # set: the monitor may start retraining (contract retrain_on)
