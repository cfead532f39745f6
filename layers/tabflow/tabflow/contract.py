"""Dataset contracts: what a file must look like, what the model predicts, and the gates.

A contract is YAML validated by pydantic. It lives in the raw bucket under
``contracts/<dataset>.yaml`` (uploaded from datasets/), so a new dataset needs no code change.
"""

import hashlib
from enum import StrEnum
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tabflow.errors import ContractError
from tabflow.naming import DATASET_NAME_PATTERN


class ColumnType(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CATEGORY = "category"
    STRING = "string"
    DATETIME = "datetime"
    MONEY = "money"  # "$1,234.50", "1.234,50 €", "(12.00)" -> float
    PERCENT = "percent"  # "12.5%" or "12.5" (percent points) -> 0.125


NUMBER_TYPES = (ColumnType.INT, ColumnType.FLOAT, ColumnType.MONEY, ColumnType.PERCENT)
MULTICLASS_TYPES = (ColumnType.CATEGORY, ColumnType.STRING, ColumnType.INT)


DerivedOp = Literal[
    "year",
    "month",
    "day",
    "weekday",
    "hour",
    "dayofyear",
    "sin_hour",
    "cos_hour",
    "sin_weekday",
    "cos_weekday",
    "sin_month",
    "cos_month",
    "ratio",
    "log1p",
    "entity_count",
    "entity_mean",
]
DATE_OPS = frozenset(get_args(DerivedOp)) - {"ratio", "log1p", "entity_count", "entity_mean"}


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType
    required: bool = True  # the column must be present in the file
    nullable: bool = True  # a row may leave it empty
    min: float | None = None  # hard limits: a value outside is rejected
    max: float | None = None
    warn_min: float | None = None  # soft limits: a value outside is accepted and counted
    warn_max: float | None = None
    categories: list[str] | None = None
    unseen: Literal["reject", "keep"] = "reject"  # a category outside the declared list
    ignore_case: bool = False  # category: "YES", " yes " and "Yes" are the same value
    missing_markers: list[str] | None = None  # replaces the default markers (NA, ?, none...)
    pii: Literal["none", "drop", "hash"] = "none"  # hash: salted sha256, salt from a secret
    aliases: list[str] = Field(default_factory=list)  # other header spellings of this column
    formats: list[str] | None = None  # datetime: strptime formats tried in order (default ISO 8601)
    feature: bool = True  # False: carried through curation but never fed to a model
    description: str = ""


class FileFormat(BaseModel):
    """How to read the files of this dataset; "auto" sniffs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = "auto"
    encoding: str = "auto"
    decimal: Literal[".", ","] = "."
    thousands: Literal[",", ".", " ", "'", "none", "auto"] = "auto"

    @property
    def thousands_separator(self) -> str | None:
        if self.thousands == "none":
            return None
        if self.thousands == "auto":
            return "," if self.decimal == "." else "."
        return self.thousands


class Derived(BaseModel):
    """A feature computed from other columns, the same way in training and in serving.

    ops: year, month, day, weekday, hour, dayofyear (date parts of a datetime source);
    sin_hour, cos_hour, sin_weekday, cos_weekday, sin_month, cos_month (cyclical encodings);
    ratio (source / other); log1p (of a non-negative source); entity_count, entity_mean
    (earlier rows of the same entity_column, strictly before this row's timestamp_column)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    op: DerivedOp
    source: str
    other: str | None = None  # ratio: the denominator


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    kind: Literal["binary", "multiclass", "regression"] = "binary"
    positive_label: str | None = None  # binary: which value is "positive"
    # multiclass: the class order (the order of the served probabilities; default: sorted),
    # and what happens to a class with fewer than ``min_class_rows`` rows: refuse training
    # and name it, or merge it (with every other rare class) into ``other``.
    classes: list[str] | None = None
    min_class_rows: int = Field(20, ge=2)
    rare_classes: Literal["refuse", "other"] = "refuse"
    # regression: the share of true values the served interval must cover, and its scale
    coverage: float = Field(0.9, gt=0.0, lt=1.0)
    interval: Literal["auto", "absolute", "relative"] = "auto"


class Gates(BaseModel):
    """What a candidate must pass to become the champion; each gate's value and verdict is
    recorded and emailed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_auc: float = Field(0.7, ge=0.0, le=1.0)  # binary; multiclass: macro one-vs-rest AUC
    max_log_loss: float | None = Field(None, gt=0)  # multiclass: a ceiling on held-out log loss
    max_rmse: float | None = Field(None, gt=0)  # regression
    min_r2: float | None = Field(None, le=1.0)  # regression
    min_pr_auc: float | None = Field(None, ge=0.0, le=1.0)
    beat_baseline: bool = True  # LightGBM must not be worse than the linear baseline to win
    champion_tolerance: float = Field(0.01, ge=0.0, le=1.0)  # AUC may not drop more than this
    max_ece: float | None = Field(
        0.1, gt=0.0, le=1.0
    )  # calibration ceiling (expected calibration error)
    slices: list[str] = Field(default_factory=list)  # columns whose groups must be served alike
    max_slice_gap: float = Field(0.1, gt=0.0, le=1.0)  # largest AUC gap between groups
    min_slice_rows: int = Field(50, ge=10)
    max_slice_mae_ratio: float = Field(2.0, gt=1.0)  # regression: largest over smallest group MAE
    coverage_tolerance: float = Field(0.02, gt=0.0, lt=0.5)  # regression: interval coverage


class CostRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    false_positive_cost: float = Field(gt=0)
    false_negative_cost: float = Field(gt=0)


class RecallRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_recall: float = Field(gt=0, le=1)


class PrecisionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_precision: float = Field(gt=0, le=1)


class Tuning(BaseModel):
    """The tuning budget: a number of trials, each cross-validated on ``folds`` folds and
    given at most ``seconds``. Trials run in parallel (a Step Functions Map state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int = Field(6, ge=1, le=100)
    folds: int = Field(3, ge=2, le=10)
    seconds: float = Field(300.0, gt=0, le=840)  # stays inside one Lambda invocation


class Training(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tuning: Tuning = Tuning()

    test_size: float = Field(0.2, gt=0.0, lt=0.5)
    seed: int = 42
    # A fixed probability, or chosen on validation rows: a cost matrix, or a constraint.
    threshold: float | CostRule | RecallRule | PrecisionRule = 0.5
    calibration: Literal["auto", "platt", "isotonic", "none"] = "auto"
    class_weight: Literal["auto", "none", "balanced"] = "auto"  # auto: chosen by validation PR-AUC

    @property
    def threshold_rule(self) -> float | dict[str, float]:
        return (
            self.threshold
            if isinstance(self.threshold, float | int)
            else self.threshold.model_dump()
        )


class Monitoring(BaseModel):
    """Drift and decay checks. A test shows drift when it rejects "same distribution" at the
    false-discovery rate ``fdr`` across all tests of the window (Benjamini-Hochberg) AND the
    lower bound of its effect (at ``confidence``) passes the effect threshold: big samples
    cannot alarm on trivia, small samples cannot alarm on noise. The drift state then holds
    until the upper bound falls below the threshold (hysteresis: one steady state and one
    email for a steady shift, even near a threshold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check_every_hours: float = Field(
        24.0, gt=0
    )  # the schedule fires hourly; each dataset runs when due
    window_days: float = Field(1.0, gt=0)
    min_rows: int = Field(50, ge=1)
    fdr: float = Field(0.05, gt=0, lt=1)
    confidence: float = Field(0.95, ge=0.5, lt=1)  # one-sided level of the effect bounds
    ks_threshold: float = Field(0.05, gt=0, le=1)  # numeric: KS distance
    psi_threshold: float = Field(0.2, gt=0.0)  # numeric: PSI at or above it is marked as high
    share_threshold: float = Field(0.025, gt=0, le=1)  # category: largest change of a share
    missing_threshold: float = Field(0.025, gt=0, le=1)  # change of the missing rate
    unseen_threshold: float = Field(0.02, gt=0, le=1)  # share of unseen categories
    min_importance: float = Field(
        0.0, ge=0, le=1
    )  # features below this importance share never alert
    # A feature the model gives no importance cannot move its predictions: its drift is
    # reported (check report, metrics, a line in any alert email) but alerts only if true.
    alert_on_unused_features: bool = False
    persistence: int = Field(1, ge=1)  # consecutive drifted windows before entering drift
    clear_after: int = Field(2, ge=1)  # consecutive windows below threshold before leaving it
    cooldown_hours: float = Field(24.0, ge=0)  # no new alert of a condition within this period
    label_maturity_days: float = Field(0.0, ge=0)  # predictions younger than this wait for labels
    decay_tolerance: float = Field(0.05, gt=0, le=1)  # AUC drop from the model's test AUC
    retrain_on: Literal["none", "drift", "decay", "both"] = "none"
    retrain_cooldown_hours: float = Field(168.0, ge=0)


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(pattern=DATASET_NAME_PATTERN)
    description: str = ""
    target: Target
    id_column: str | None = None
    timestamp_column: str | None = None
    entity_column: str | None = None  # per-entity aggregates group by it
    columns: dict[str, Column]
    format: FileFormat = FileFormat()
    derived: list[Derived] = Field(default_factory=list)
    # drop_exact: identical rows; drop_id_keep_last/first: rows sharing id_column
    duplicates: Literal["drop_exact", "drop_id_keep_last", "drop_id_keep_first", "keep"] = (
        "drop_exact"
    )
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
        if self.target.kind == "binary" and self.target.positive_label is None:
            raise ValueError("target.positive_label is required for a binary target")
        if self.target.kind == "regression" and target.type not in NUMBER_TYPES:
            raise ValueError(f"a regression target must be numeric, not {target.type.value}")
        if self.target.kind == "binary":
            _check_positive_label(self.target, target)
        if self.target.kind == "multiclass":
            if target.type not in MULTICLASS_TYPES:
                raise ValueError(
                    f"a multiclass target must be a category, string or int column, "
                    f"not {target.type.value}"
                )
            if self.target.positive_label is not None:
                raise ValueError("a multiclass target has no positive_label (use classes)")
            declared = self.target.classes or []
            if len(set(declared)) != len(declared) or (declared and len(declared) < 3):
                raise ValueError("target.classes must list at least 3 distinct classes")
        for role in ("timestamp_column", "entity_column"):
            name = getattr(self, role)
            if name and name not in self.columns:
                raise ValueError(f"{role} {name!r} is not declared in columns")
        if (
            self.timestamp_column
            and self.columns[self.timestamp_column].type != ColumnType.DATETIME
        ):
            raise ValueError(f"timestamp_column {self.timestamp_column!r} must have type datetime")
        if self.duplicates.startswith("drop_id") and not self.id_column:
            raise ValueError(f"duplicates: {self.duplicates} needs an id_column")
        names = set(self.columns)
        for d in self.derived:
            if d.name in names:
                raise ValueError(
                    f"derived feature {d.name!r} clashes with a column or another feature"
                )
            names.add(d.name)
            if d.source not in self.columns:
                raise ValueError(f"derived feature {d.name!r}: source {d.source!r} is not a column")
            source_type = self.columns[d.source].type
            if d.op in DATE_OPS and source_type != ColumnType.DATETIME:
                raise ValueError(f"derived feature {d.name!r}: {d.op} needs a datetime source")
            if d.op in ("ratio", "log1p", "entity_mean") and source_type not in NUMBER_TYPES:
                raise ValueError(f"derived feature {d.name!r}: {d.op} needs a numeric source")
            if d.op == "ratio" and (not d.other or d.other not in self.columns):
                raise ValueError(
                    f"derived feature {d.name!r}: ratio needs `other`, a numeric column"
                )
            if d.op.startswith("entity_") and not (self.entity_column and self.timestamp_column):
                raise ValueError(
                    f"derived feature {d.name!r}: {d.op} needs entity_column and timestamp_column"
                )
        for name, col in self.columns.items():
            if col.categories is not None and col.type not in (ColumnType.CATEGORY,):
                raise ValueError(f"column {name!r}: categories are only allowed on type category")
            if col.ignore_case and col.type != ColumnType.CATEGORY:
                raise ValueError(f"column {name!r}: ignore_case is only allowed on type category")
            if col.ignore_case and col.categories:
                lowered = [c.lower() for c in col.categories]
                twins = sorted({c for c in col.categories if lowered.count(c.lower()) > 1})
                if twins:
                    raise ValueError(
                        f"column {name!r}: categories {twins} differ only by case (ignore_case)"
                    )
            for low, high in ((col.min, col.max), (col.warn_min, col.warn_max)):
                if low is not None and high is not None and low > high:
                    raise ValueError(f"column {name!r}: min {low} is above max {high}")
        from tabflow.field_names import check_spellings

        check_spellings({name: (name, *col.aliases) for name, col in self.columns.items()})
        return self

    @property
    def feature_columns(self) -> list[str]:
        """Columns a model reads as they are: declared features that are numbers, booleans or
        categories; never the target, the id, the entity, PII, free text or raw datetimes
        (datetimes reach models through derived features)."""
        skip = {self.target.column, self.id_column, self.entity_column}
        return [
            name
            for name, col in self.columns.items()
            if name not in skip
            and col.feature
            and col.pii == "none"
            and col.type not in (ColumnType.STRING, ColumnType.DATETIME)
        ]

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form: recorded in each model's lineage."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def _check_positive_label(target: Target, column: Column) -> None:
    """The positive label is typed like the target's values: for a bool target any boolean
    spelling ("Yes", "y", "true"), for a category one of the categories (or a spelling of it)."""
    from tabflow.values import ValueRule, parse_value

    parsed = parse_value(ValueRule.from_column(target.column, column), target.positive_label)
    if parsed.value is None:
        if column.type == ColumnType.BOOL:
            raise ValueError(
                f"positive_label {target.positive_label!r} is not a boolean spelling "
                "(yes/no, true/false, y/n, t/f, 1/0) for the bool target"
            )
        if column.categories:
            raise ValueError(
                f"positive_label {target.positive_label!r} is not one of the target's "
                f"categories {column.categories}"
            )
        raise ValueError(
            f"positive_label {target.positive_label!r} is not a valid {column.type.value} "
            f"value ({parsed.problem or 'a missing marker'})"
        )


def parse_contract(text: str | bytes, *, source: str = "contract") -> Contract:
    """Parse and validate contract YAML; errors name the source and the offending field."""
    try:
        # libyaml's safe loader when present: 10 times faster on a 20,000-column contract,
        # and it refuses deep nesting with a YAMLError (the Python one recurses for seconds).
        data: Any = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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
