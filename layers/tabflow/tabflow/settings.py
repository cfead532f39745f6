"""Function settings, read from environment variables once at start (see template Globals).

Domain code receives these objects; it never reads ``os.environ`` itself."""

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    raw_bucket: str
    lake_bucket: str
    model_bucket: str
    registry_table: str
    sender_email: str = "tabflow-alerts@example.com"
    # A comma-separated string in the environment (a template parameter).
    alert_recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    code_version: str = "dev"
    stage: str = "dev"
    # The PiiSaltSecret's ARN, for the functions that store data (ingest, batch, predict,
    # monitor); read through adapters/secrets.py only when a contract hashes a column.
    pii_salt_secret: str = ""

    @field_validator("alert_recipients", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value


class IngestLimits(Settings):
    max_file_bytes: int = 1024 * 1024 * 1024


class IngestSettings(Settings):
    state_machine_arn: str
    idempotency_table: str
    pii_salt_secret: str = ""
    max_file_bytes: int = 1024 * 1024 * 1024


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
