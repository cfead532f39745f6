"""Draft a contract from a messy sample export (`contract infer`).

The file is read and typed with the rules ingest uses (values.py): missing markers are left
out before a column is typed, boolean spellings fold into booleans, money and percent
strings are numbers. The draft names the target (``--target`` or guessed: a column that
resolves to two classes), its positive label (``--positive``): a target of 3 to 50 values
(spelling variants folded; an int target: 3 to 10) is a multiclass one, and when a class has
fewer rows than ``min_class_rows`` among those training sees, the draft says
``rare_classes: other`` with a comment naming them; the id (``--id`` or a
column that is near-unique once duplicate rows are dropped). Constant export columns are
carried but optional and never features; categories with more than 50 values stay
categories whose levels are learned in training; a file's observed range becomes a
warn-only range (``warn_min``/``warn_max``), never a hard limit (only a sign: ``min: 0``).
Before it is returned, the draft is checked on the file itself: it must parse, ingest the
file and resolve the target; the outcome is written in the header comments."""

import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from tabflow.contract import parse_contract
from tabflow.draft_classes import multiclass_target, rare_comment
from tabflow.field_names import name_key
from tabflow.readers import normalise_header, read_table
from tabflow.targets import MAX_CLASSES, resolve_target, shown
from tabflow.validation import validate
from tabflow.value_columns import parse_datetimes, parse_numbers
from tabflow.values import (
    FALSE_SPELLINGS,
    MISSING_MARKERS,
    TRUE_SPELLINGS,
    ValueRule,
    truth,
)

TARGET_NAMES = ("target", "label", "class", "outcome", "churn", "churned", "y", "is_fraud",
                "fraud", "default", "defaulted")  # fmt: skip
DATE_FORMATS = ["ISO8601", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y"]
POSITIVE_WORDS = ("yes", "y", "true", "1", "churn", "fraud", "positive", "bad", "default")
MAX_CATEGORIES = 50  # above: kept as a category without a declared list
MAX_LEVELS = 1000  # above: free text, reported
NEAR_UNIQUE = 0.98
INT_CLASSES = 10  # an int target with 3 to 10 values is drafted as classes, more: a regression


class DraftError(ValueError):
    """The sample cannot give a working contract; the message says why and what was seen."""


def draft_contract(
    data: bytes,
    *,
    name: str,
    dataset: str,
    target: str | None = None,
    positive: str | None = None,
    id_column: str | None = None,
) -> str:
    """Contract YAML (with review comments) drafted from the bytes of a sample file."""
    raw = read_table(data, name=name)
    frame = raw.frame
    names = _column_names(list(frame.columns), name)
    frame.columns = names
    notes: list[str] = []
    decimal = _guess_decimal(frame)
    profiles = {col: _profile(frame[col], notes) for col in names}
    columns = {col: _infer_column(p, col, name, decimal, notes) for col, p in profiles.items()}
    unique_rows = frame.drop_duplicates()
    id_col = _pick(id_column, names, "--id") or _guess_id(unique_rows, profiles, columns)
    target_col = _pick(target, names, "--target") or _guess_target(profiles, {id_col})
    if target_col is None:
        raise DraftError(f"{name}: no column resolves to two classes: pass --target COLUMN")
    if target_col == id_col:
        raise DraftError(f"{name}: {target_col!r} cannot be both the target and the id")
    doc_target = _target(columns, profiles[target_col], target_col, positive, notes)
    roles = tuple(f"column {c!r}" for c in (id_col, target_col) if c)  # typed by their role
    notes = [n for n in notes if not n.startswith(roles)]
    if id_col:
        columns[id_col] = {"type": "string", "nullable": False, "feature": False}
        _id_notes(unique_rows[id_col], profiles[id_col], id_col, notes)
    ts_col = next((c for c, s in columns.items() if s["type"] == "datetime"), None)
    doc: dict[str, Any] = {
        "dataset": dataset,
        "description": f"Drafted from {name} ({len(frame)} rows); review every line.",
        "target": doc_target,
    }
    if id_col:
        doc["id_column"] = id_col
    if ts_col:
        doc["timestamp_column"] = ts_col
    if decimal != ".":
        doc["format"] = {"decimal": decimal}
    doc["columns"] = columns
    doc["gates"] = {"min_r2": 0.0} if doc_target.get("kind") == "regression" else {"min_auc": 0.7}
    left_out: tuple[str, ...] = ()
    while True:  # 3 times at most: a multiclass draft merges rare classes, or leaves them out
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        contract = parse_contract(text, source=f"draft of {name}")
        check = validate(raw, contract, file=name)
        trained = resolve_target(contract, check.curated[target_col].tolist())
        least = contract.target.min_class_rows
        rare = [c for c, n in trained.classes.items() if n < least]
        target_doc = columns[target_col]
        if trained.merged and trained.errors and "categories" in target_doc:
            # Even merged, the rare classes are too few to learn: their rows are quarantined
            # instead (left out of the categories), with the reason, and training goes on.
            left_out = trained.merged
            target_doc["categories"] = [c for c in target_doc["categories"] if c not in left_out]
            target_doc["unseen"] = "reject"
            doc_target.pop("rare_classes")
            notes.append(
                f"target {target_col!r}: the classes {list(left_out)} have fewer than {least} "
                "rows even together: left out of the categories, so ingest quarantines their "
                "rows (with the reason)"
            )
            continue
        if trained.kind != "multiclass" or not rare or "rare_classes" in doc_target or left_out:
            break
        if len(trained.classes) - len(rare) < 2:  # with ``other``: fewer than 3 classes
            raise DraftError(
                f"{name}: target {target_col!r} has {len(trained.classes)} distinct values, "
                f"{len(trained.classes) - len(rare)} of them with at least {least} rows among "
                f"those training sees; a multiclass target needs 3 classes (rare ones merged "
                f"into 'other'): {shown(trained.classes)}; collect more rows, or lower "
                "target.min_class_rows in the contract"
            )
        doc_target["rare_classes"] = "other"  # the rows training sees decide, not the file's
    if trained.merged:
        text = rare_comment(text, trained, least, name)
    if trained.errors:
        raise DraftError(f"{name}: {trained.message()}")
    seen = resolve_target(contract, frame[target_col].tolist())
    if check.bad_share > contract.max_bad_row_share:
        notes.append(
            f"{check.bad_share:.1%} of the rows are quarantined, above max_bad_row_share "
            f"{contract.max_bad_row_share}: ingest would reject this file"
        )
    header = [
        f"# Contract draft for {dataset!r}, inferred from {name}.",
        f"# Target {target_col!r} ({trained.kind}), id_column={id_col!r}, "
        f"timestamp_column={ts_col!r}.",
        f"# Checked on {name}: {check.counts['rows_in']} rows -> {check.counts['curated']} "
        f"curated, {check.counts['quarantined']} quarantined, "
        f"{check.counts['duplicates']} duplicates; training sees {trained.summary()}.",
        f"# In the file: {seen.message()}",
        "# warn_min/warn_max are the range seen in this file: values outside are accepted and"
        " counted in the validation report's warnings.",
    ]
    header += [f"# NOTE: {n}" for n in notes]
    return "\n".join(header) + "\n" + text


def _column_names(headers: list[str], file: str) -> list[str]:
    names = [normalise_header(h) or f"column_{i + 1}" for i, h in enumerate(headers)]
    seen: dict[str, str] = {}
    for header, col in zip(headers, names, strict=True):
        if name_key(col) in seen:
            raise DraftError(
                f"{file}: headers {seen[name_key(col)]!r} and {header!r} name the same column "
                "(case, spaces and punctuation are ignored): rename one"
            )
        seen[name_key(col)] = header
    return names


def _pick(given: str | None, names: list[str], flag: str) -> str | None:
    if given is None:
        return None
    hit = [n for n in names if name_key(n) == name_key(given)]
    if not hit:
        raise DraftError(f"{flag} {given!r} is not a column of the file: {', '.join(names)}")
    return hit[0]


class _Profile:
    """A column's text without missing markers, with its distinct spellings counted."""

    def __init__(self, raw: pd.Series, markers: frozenset[str]) -> None:
        self.text = raw.astype(str).str.strip()
        self.markers = markers
        lowered = self.text.str.lower()
        self.missing = lowered.isin(markers) | (self.text == "")
        self.present = self.text[~self.missing]
        self.counts = Counter(self.present.tolist())
        self.groups = Counter(v.lower() for v in self.present.tolist())
        self.truths = {truth(v) for v in self.counts}

    @property
    def spelling(self) -> dict[str, str]:
        """Each value (lower case) -> its most frequent spelling."""
        best: dict[str, str] = {}
        for value, _ in self.counts.most_common():
            best.setdefault(value.lower(), value)
        return best

    @property
    def boolean(self) -> bool:
        return bool(self.counts) and self.truths == {True, False}


def _profile(raw: pd.Series, notes: list[str]) -> _Profile:
    prof = _Profile(raw, MISSING_MARKERS)
    lowered = Counter(prof.text[prof.missing].str.lower().tolist())
    words = [m for m in lowered if m not in ("", "?", "-", "na", "n/a", "nan")]
    numeric = pd.to_numeric(prof.present, errors="coerce").notna().mean() > 0.5
    if len(lowered) == 1 and words and not numeric and lowered[words[0]] >= 5:
        # A word like "none" as the column's only "missing" value: a real category.
        prof = _Profile(raw, MISSING_MARKERS - {words[0]})
        notes.append(f"column {raw.name!r}: {words[0]!r} is a value here, not a missing marker")
    return prof


def _infer_column(
    prof: _Profile, col: str, file: str, decimal: str, notes: list[str]
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if prof.markers != MISSING_MARKERS:
        spec["missing_markers"] = sorted(prof.markers - {""})
    present = prof.present
    if present.empty:
        notes.append(f"column {col!r} is empty in {file}: carried, optional, not a feature")
        return {"type": "string", "required": False, "feature": False}
    if len(prof.counts) == 1:
        value = next(iter(prof.counts))
        notes.append(f"column {col!r} holds one value ({value!r}): optional, not a feature")
        return {"type": "string", "required": False, "feature": False,
                "description": f"constant in {file}: {value!r}"}  # fmt: skip
    words = set(prof.groups)  # 0/1 alone may be a count: typed int below
    if prof.boolean and words <= TRUE_SPELLINGS | FALSE_SPELLINGS and not words <= {"0", "1"}:
        return {"type": "bool", **spec}
    distinct = pd.Series(list(prof.counts), dtype=object)  # typing each spelling once
    number = _number_spec(distinct, decimal)
    if number:
        return {**number, **spec}
    for f in DATE_FORMATS:
        _, bad = parse_datetimes(pa.array(distinct.head(200), pa.string()), [f])
        if bad.any():
            continue
        _, bad = parse_datetimes(pa.array(distinct, pa.string()), [f])
        if bad.mean() == 0:
            return {"type": "datetime", **({"formats": [f]} if f != "ISO8601" else {}), **spec}
    levels = len(prof.groups)
    if levels <= max(2, 0.2 * len(present)) and levels <= MAX_LEVELS:
        out: dict[str, Any] = {"type": "category"}
        if levels < len(prof.counts):
            out["ignore_case"] = True
        if levels <= MAX_CATEGORIES:
            best = prof.spelling  # one spelling per level: the most frequent
            out["categories"] = sorted(best.values())
            if {truth(c) for c in best.values()} != {True, False} or levels != 2:
                # one file's levels are not all there are: a new value is kept (the model
                # reads it as missing, monitoring counts it), not a 422 for the whole request
                out["unseen"] = "keep"
        else:
            out["unseen"] = "keep"
            out["description"] = f"{levels} distinct values in {file}"
            notes.append(
                f"column {col!r}: {levels} distinct values, kept as a category whose levels "
                "are learned in training (a value training never saw counts as missing)"
            )
        return {**out, **spec}
    notes.append(
        f"column {col!r}: free text ({levels} distinct values in {len(present)} rows), "
        "not a feature"
    )
    return {"type": "string", "feature": False, **spec}


def _number_spec(present: pd.Series, decimal: str) -> dict[str, Any] | None:
    fmt = ValueRule(
        "", "float", decimal=decimal, thousands_separator="." if decimal == "," else ","
    )
    for kind in ("int", "float", "percent", "money"):
        if kind == "percent" and not present.str.endswith("%").mean() > 0.5:
            continue
        if kind == "money" and not present.str.contains(r"[$€£¥₹]|[A-Z]{3}").mean() > 0.5:
            continue
        parsed, bad = parse_numbers(
            pa.array(present, pa.string()), "float" if kind == "int" else kind, fmt
        )
        numbers = parsed.to_numpy(zero_copy_only=False)
        if bad.mean() == 0 and (kind != "int" or (numbers % 1 == 0).all()):
            low, high = float(numbers.min()), float(numbers.max())
            spec: dict[str, Any] = {"type": kind}
            if low >= 0:
                spec["min"] = 0
            spec["warn_min"], spec["warn_max"] = _round(low, np.floor), _round(high, np.ceil)
            return spec
    return None


def _target(
    columns: dict[str, dict], prof: _Profile, col: str, positive: str | None, notes: list[str]
) -> dict[str, Any]:
    spec = columns[col]
    if prof.boolean and set(prof.groups) <= TRUE_SPELLINGS | FALSE_SPELLINGS:
        columns[col] = {"type": "bool", "nullable": False}
        true_side = [v for v, _ in prof.counts.most_common() if truth(v)]
        return {"column": col, "positive_label": positive or true_side[0]}
    numeric = spec["type"] in ("int", "float", "money", "percent")
    levels = len(prof.groups)  # distinct values, case variants folded as ignore_case folds
    coded = spec["type"] == "int" and levels <= INT_CLASSES  # classes numbered 1, 2, 3...
    if numeric and positive is None and levels > 2 and not coded:
        columns[col] = {**spec, "nullable": False}
        for key in ("min", "warn_min", "warn_max"):  # a target's range is what it is
            columns[col].pop(key, None)
        if spec["type"] == "int" and levels <= MAX_CLASSES:
            notes.append(
                f"target {col!r}: {levels} whole numbers, drafted as a regression; if they "
                "are classes, write kind: multiclass"
            )
        return {"column": col, "kind": "regression", "coverage": 0.9}  # the served interval
    if positive is None and 3 <= levels <= MAX_CLASSES:
        return multiclass_target(columns, prof, col, spec, coded, notes)
    if levels != 2:
        raise DraftError(
            f"target {col!r} has {levels} distinct values: a binary target needs 2, a "
            f"multiclass one 3 to {MAX_CLASSES} (without --positive; a numeric column with "
            f"many values is drafted as a regression): {shown(dict(prof.counts.most_common()))}"
        )
    classes = sorted(prof.spelling.values())
    columns[col] = {"type": "category", "categories": classes, "nullable": False}
    if len(prof.counts) > 2:
        columns[col]["ignore_case"] = True
    guess = next((c for c in classes if c.lower() in POSITIVE_WORDS), classes[-1])
    return {"column": col, "positive_label": positive or guess}


def _guess_id(
    unique_rows: pd.DataFrame, profiles: dict[str, _Profile], columns: dict[str, dict]
) -> str | None:
    """A text (or int, when named like an id) column whose values are near-unique once exact
    duplicate rows are dropped; one named like an id first."""
    found = []
    for col in unique_rows.columns:
        if columns[col]["type"] not in ("string", "category", "int"):
            continue
        prof = _Profile(unique_rows[col], profiles[col].markers)
        if len(prof.present) < 0.9 * len(unique_rows) or prof.boolean:
            continue
        if len(prof.counts) / len(prof.present) >= NEAR_UNIQUE:
            named = re.search(r"(^|_)(id|key|uuid|number|no)$", col) is not None
            if named or columns[col]["type"] != "int":
                found.append((not named, col))
    return min(found)[1] if found else None


def _id_notes(ids: pd.Series, prof: _Profile, col: str, notes: list[str]) -> None:
    shared = _Profile(ids, prof.markers)
    repeated = sum(1 for n in shared.counts.values() if n > 1)
    if repeated:
        notes.append(
            f"id {col!r}: {repeated} id(s) on more than one distinct row; "
            "`duplicates: drop_id_keep_last` keeps the latest of each"
        )
    missing = int(prof.missing.sum())
    if missing:
        notes.append(f"id {col!r}: {missing} row(s) without an id are quarantined")


def _guess_target(profiles: dict[str, _Profile], exclude: set) -> str | None:
    candidates = [c for c in profiles if c not in exclude and len(profiles[c].counts) > 1]
    for col in candidates:
        if col in TARGET_NAMES:
            return col
    binary = [c for c in candidates if profiles[c].boolean or len(profiles[c].groups) == 2]
    return binary[-1] if binary else None


def _round(v: float, direction=np.round) -> float | int:
    """Six decimals, rounded outwards for bounds: a range must admit the values it came from."""
    if float(v).is_integer():
        return int(v)
    return float(direction(v * 1e6) / 1e6)


def _guess_decimal(frame: pd.DataFrame) -> str:
    sample = frame.head(500).astype(str).stack().str.replace(r"[$€£¥₹%\s]|[A-Z]{3}", "", regex=True)
    comma = sample.str.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d+").mean()
    point = sample.str.fullmatch(r"-?\d+\.\d+").mean()
    return "," if comma > point else "."
