"""Delayed labels: labels/<dataset>/* files (CSV, JSON Lines, Parquet) holding the id and the
target column, resolved exactly as training resolves its target (targets.resolve_labels:
the target column's value rule, then the model's two classes, or a multiclass model's
classes). ``yes``, ``Y``, ``TRUE`` and `` Yes `` are the positive label "Yes"; a value that
is no class of the model is counted and reported with its reason, never taken as the
negative class (or as any class)."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tabflow.contract import Contract
from tabflow.errors import SchemaError
from tabflow.observability import logger
from tabflow.ports import ObjectStore, s3_uri
from tabflow.readers import read_table
from tabflow.targets import resolve_labels, shown
from tabflow.values import to_text


@dataclass
class DelayedLabels:
    # id -> True/False (binary), a class code (multiclass: the model's class order) or a
    # number (regression)
    values: dict[str, Any]
    files: int = 0
    rows: int = 0  # label rows with an id
    missing: int = 0  # rows whose label is empty or a missing marker (no truth yet)
    invalid: dict[str, int] = field(default_factory=dict)  # "value: reason" -> rows
    skipped_files: dict[str, str] = field(default_factory=dict)  # file -> why it was not read

    @property
    def unresolved(self) -> int:
        return sum(self.invalid.values())

    def summary(self) -> dict[str, Any]:
        """What the check report says about the labels it read."""
        out: dict[str, Any] = {
            "files": self.files,
            "rows": self.rows,
            "resolved": len(self.values),
            "missing": self.missing,
            "unresolved": self.unresolved,
        }
        if self.invalid:
            out["unresolved_values"] = shown(self.invalid)
        if self.skipped_files:
            out["skipped_files"] = self.skipped_files
        return out


def read_labels(
    store: ObjectStore,
    raw_bucket: str,
    dataset: str,
    contract: Contract,
    negative_label: str | None = None,
    classes: Sequence[str] = (),
    merged: Sequence[str] = (),
) -> DelayedLabels:
    """Every label file of the dataset, in listing order (a later label of an id wins).
    ``negative_label``: the champion's negative class; ``classes`` and ``merged``: a
    multiclass champion's classes and the rare ones merged into ``other`` (its feature spec)."""
    labels = DelayedLabels({})
    invalid: Counter[str] = Counter()
    id_col, target = contract.id_column, contract.target.column
    for uri in store.list(s3_uri(raw_bucket, f"labels/{dataset}/")):
        name = uri.rsplit("/", 1)[-1]
        try:
            raw = read_table(store.get(uri), name=name)
        except SchemaError as exc:
            labels.skipped_files[uri] = str(exc)
            continue
        if id_col not in raw.columns or target not in raw.columns:
            labels.skipped_files[uri] = f"no {id_col!r} or no {target!r} column"
            continue
        ids = [to_text(i).strip() for i in raw.table.column(raw.columns.index(id_col)).to_pylist()]
        keep = [k for k, i in enumerate(ids) if i]
        values = raw.table.column(raw.columns.index(target)).to_pylist()
        resolution = resolve_labels(
            contract, [values[k] for k in keep], negative_label, classes, merged
        )
        labels.files += 1
        labels.rows += len(keep)
        labels.missing += resolution.missing
        invalid.update(resolution.invalid)
        for k, y in zip(keep, resolution.y.tolist(), strict=True):
            if resolution.kind == "regression":
                if y == y:  # not NaN
                    labels.values[ids[k]] = float(y)
            elif y >= 0:
                labels.values[ids[k]] = int(y) if resolution.kind == "multiclass" else bool(y)
    labels.invalid = dict(invalid.most_common())
    if labels.invalid or labels.skipped_files:
        logger.warning(
            "delayed labels not understood",
            extra={"dataset": dataset, **labels.summary()},
        )
    return labels
