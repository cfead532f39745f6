"""Dataset contracts: what a file must look like, what the model predicts, and the gates.

A contract is YAML validated by pydantic. It lives in the raw bucket under
``contracts/<dataset>.yaml`` (uploaded from datasets/), so a new dataset needs no code change.
"""

import hashlib
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tabflow.errors import ContractError


class ColumnType(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CATEGORY = "category"
    STRING = "string"


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType
    required: bool = True  # the column must be present in the file
    nullable: bool = True  # a row may leave it empty
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    unseen: Literal["reject", "keep"] = "reject"  # a category outside the declared list
    pii: Literal["none", "drop"] = "none"
    feature: bool = True  # False: carried through curation but never fed to a model
    description: str = ""


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    positive_label: str


class Gates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_auc: float = Field(0.7, ge=0.0, le=1.0)


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    test_size: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 42
    threshold: float = Field(0.5, gt=0.0, lt=1.0)


class Monitoring(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_threshold: float = Field(0.2, gt=0.0)
    min_rows: int = Field(50, ge=1)


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")
    description: str = ""
    target: Target
    id_column: str | None = None
    columns: dict[str, Column]
    duplicates: Literal["drop_exact", "keep"] = "drop_exact"
    max_bad_row_share: float = Field(0.2, ge=0.0, le=1.0)
    gates: Gates = Gates()
    training: Training = Training()
    monitoring: Monitoring = Monitoring()
    notify: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> "Contract":
        if self.target.column not in self.columns:
            raise ValueError(f"target column {self.target.column!r} is not declared in columns")
        if self.id_column and self.id_column not in self.columns:
            raise ValueError(f"id_column {self.id_column!r} is not declared in columns")
        target = self.columns[self.target.column]
        if target.categories and self.target.positive_label not in target.categories:
            raise ValueError(
                f"positive_label {self.target.positive_label!r} is not one of the target's "
                f"categories {target.categories}"
            )
        for name, col in self.columns.items():
            if col.categories is not None and col.type not in (ColumnType.CATEGORY,):
                raise ValueError(f"column {name!r}: categories are only allowed on type category")
            if col.min is not None and col.max is not None and col.min > col.max:
                raise ValueError(f"column {name!r}: min {col.min} is above max {col.max}")
        return self

    @property
    def feature_columns(self) -> list[str]:
        """Columns a model may use: declared features, minus target, id and dropped PII."""
        skip = {self.target.column, self.id_column}
        return [
            name
            for name, col in self.columns.items()
            if name not in skip
            and col.feature
            and col.pii != "drop"
            and col.type != ColumnType.STRING
        ]

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form: recorded in each model's lineage."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def parse_contract(text: str | bytes, *, source: str = "contract") -> Contract:
    """Parse and validate contract YAML; errors name the source and the offending field."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{source}: expected a mapping at the top level")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ContractError(f"{source}: {problems}") from exc
