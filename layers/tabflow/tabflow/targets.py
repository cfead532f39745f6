"""Labels that cannot be silently wrong.

The target's values are typed by the column's own rule (values.py), so ``Yes``, ``yes``,
``Y`` and ``TRUE`` are one class whenever the values are boolean spellings, and the
``positive_label`` is typed the same way (``"yes"`` means the same as ``"Yes"``). A binary
target must resolve to exactly two classes and its positive label must match rows;
otherwise ``resolve_target`` says what it saw: every observed spelling with its count.

Callers: ``contract check --sample FILE`` (cli.py) and Prepare, on the target column (raw
text from a file or the curated, typed values)::

    resolution = resolve_target(contract, frame[contract.target.column].tolist())
    if resolution.errors: raise ...(resolution.message())
    y = resolution.y            # int8 1/0 (-1: missing or not a valid value; float for regression)
    resolution.classes          # {"Yes": 1869, "No": 5174}: label -> rows, positive first
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tabflow.values import FALSE_SPELLINGS, TRUE_SPELLINGS, ValueRule, parse_text, to_text, truth

if TYPE_CHECKING:
    from tabflow.contract import Contract

SHOWN_VALUES = 20
MAX_CLASSES = 50  # a multiclass target with more classes is refused (a text field, not a class)
OTHER = "other"  # where rare classes go when the contract says rare_classes: other
_PAIRS = {"yes": "no", "y": "n", "true": "false", "t": "f", "1": "0"}
_PAIRS.update({v: k for k, v in _PAIRS.items()})


@dataclass(frozen=True)
class TargetResolution:
    column: str
    kind: str  # binary | multiclass | regression
    # binary: int8 1/0; multiclass: int16 class codes (the order of ``classes``); -1 missing or
    # invalid; regression: float64, NaN
    y: np.ndarray
    classes: dict[str, int]  # class label -> rows (binary: positive first when resolved)
    spellings: dict[str, int]  # every observed value (trimmed) -> rows, most frequent first
    positive_label: str | None = None
    negative_label: str | None = None
    missing: int = 0
    invalid: dict[str, int] = field(default_factory=dict)  # "value: reason" -> rows
    errors: list[str] = field(default_factory=list)
    merged: tuple[str, ...] = ()  # multiclass: the rare classes merged into ``other``

    @property
    def positives(self) -> int:
        return int((self.y == 1).sum()) if self.kind == "binary" else 0

    @property
    def positive_rate(self) -> float:
        valid = int((self.y >= 0).sum()) if self.kind == "binary" else 0
        return self.positives / valid if valid else 0.0

    def summary(self) -> str:
        """The classes and their counts (binary) or the range of the values (regression)."""
        if self.kind == "regression":
            y = self.y[np.isfinite(self.y)]
            return f"{len(y)} numbers from {y.min():g} to {y.max():g}" if len(y) else "no number"
        counts = ", ".join(f"{label!r} {n}" for label, n in self.classes.items())
        if self.kind == "multiclass":
            return f"{len(self.classes)} classes: {counts}"
        return counts + f" (positive rate {self.positive_rate:.3f})"

    def message(self) -> str:
        """One paragraph: the errors (if any), the classes and the observed spellings."""
        parts = list(self.errors)
        if not self.errors:
            parts.append(f"target {self.column!r}: {self.summary()}")
        if self.kind != "regression":
            parts.append(f"observed values: {shown(self.spellings)}")
        if self.merged:
            parts.append(f"merged into {OTHER!r}: {', '.join(map(repr, self.merged))}")
        if self.missing:
            parts.append(f"missing: {self.missing}")
        if self.invalid:
            parts.append(f"not valid: {shown(self.invalid)}")
        return "; ".join(parts)


def shown(counts: dict[str, int]) -> str:
    items = list(counts.items())
    text = ", ".join(f"{v!r} {n}" for v, n in items[:SHOWN_VALUES])
    return text + (f" and {len(items) - SHOWN_VALUES} more" if len(items) > SHOWN_VALUES else "")


def _truth_of(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return truth(to_text(value)) if isinstance(value, str | int) else None


def opposite_spelling(label: str) -> str | None:
    """'Yes' -> 'No', 'TRUE' -> 'FALSE', 'y' -> 'n': the other side in the same style."""
    other = _PAIRS.get(label.strip().lower())
    if other is None:
        return None
    if label.isupper() and len(label) > 1:
        return other.upper()
    return other.capitalize() if label[:1].isupper() else other


def _observed(contract: "Contract", values: Sequence[Any]) -> tuple:
    """The target's values typed by its rule, each distinct spelling once: the texts, their
    counts, the parsed values, the non-missing spellings, the missing count and the invalid
    values ("value: reason" -> rows)."""
    rule = _target_rule(contract)
    texts = [to_text(v).strip() for v in values]
    counts = Counter(texts)
    parsed = {t: parse_text(rule, t) for t in counts}
    spellings = {t: n for t, n in counts.most_common() if not parsed[t].missing}
    missing = sum(n for t, n in counts.items() if parsed[t].missing)
    invalid = {
        f"{t}: {p.problem}": counts[t] for t, p in parsed.items() if p.problem and not p.missing
    }
    return texts, counts, parsed, spellings, missing, invalid


def resolve_target(contract: "Contract", values: Sequence[Any]) -> TargetResolution:
    """Type the target column by its rule and check it: a binary target resolves to exactly
    two classes (boolean spellings fold into true/false) and the positive label, typed the
    same way, matches rows. Errors name the observed values and their counts."""
    name = contract.target.column
    texts, counts, parsed, spellings, missing, invalid = _observed(contract, values)
    common = {"spellings": spellings, "missing": missing, "invalid": invalid}
    if contract.target.kind == "regression":
        numbers = {t: p.value for t, p in parsed.items()}
        y = np.array([numbers[t] for t in texts], dtype=np.float64)
        errors = [] if np.isfinite(y).any() else [f"target {name!r} holds no number"]
        return TargetResolution(name, "regression", y, {}, errors=errors, **common)
    if contract.target.kind == "multiclass":
        return _resolve_classes(contract, texts, counts, parsed, common)

    label = str(contract.target.positive_label)
    positive = parse_text(_target_rule(contract), label)
    classes: dict[Any, int] = Counter()
    for t, p in parsed.items():
        if p.value is not None:
            classes[p.value] += counts[t]
    key = _same
    wanted = positive.value
    mixed = False
    if (len(classes) != 2 or wanted not in classes) and _truth_of(wanted) is not None:
        # Boolean spellings fold into true/false; a target that also holds other values
        # cannot resolve, and is reported with its spellings folded the same way.
        folded: dict[Any, int] = Counter()
        for value, n in classes.items():
            folded[_truth_of(value) if _truth_of(value) is not None else value] += n
        if _all_boolean(list(classes)):
            key, wanted = _truth_of, _truth_of(wanted)
        else:
            mixed = any(isinstance(v, bool) for v in folded)
        classes = folded if key is _truth_of or mixed else classes
    errors = []
    if positive.value is None:
        errors.append(
            f"positive_label {label!r} is not a valid value of target {name!r} "
            f"({positive.problem or 'a missing marker'})"
        )
    elif len(classes) != 2:
        errors.append(
            f"target {name!r} resolves to {len(classes)} class(es) after normalisation; "
            "a binary target needs exactly 2"
            + (" (for 3 to 50 classes write target.kind: multiclass)" if len(classes) > 2 else "")
        )
    elif mixed:
        others = [str(v) for v in classes if not isinstance(v, bool)]
        errors.append(
            f"target {name!r} mixes boolean spellings with other values {others}; "
            "a binary target needs exactly 2 classes"
        )
    elif wanted not in classes:
        errors.append(f"positive_label {label!r} matches no row of target {name!r}")
    ys = {t: -1 if p.value is None else int(key(p.value) == wanted) for t, p in parsed.items()}
    y = np.fromiter((ys[t] for t in texts), dtype=np.int8, count=len(texts))
    positive_shown, negative = label, None
    if not errors:
        other = next(v for v in classes if v != wanted)
        if isinstance(wanted, bool):  # the other side spelled like the positive label
            negative = opposite_spelling(label) or _most_common(parsed, counts, key, other)
        else:
            positive_shown, negative = str(wanted), str(other)
        shown_classes = {positive_shown: classes[wanted], negative: classes[other]}
    else:
        shown_classes = {str(v): n for v, n in Counter(classes).most_common()}
    return TargetResolution(name, "binary", y, shown_classes, positive_label=positive_shown,
                            negative_label=negative, errors=errors, **common)  # fmt: skip


def _resolve_classes(
    contract: "Contract", texts: list[str], counts: Counter, parsed: dict, common: dict
) -> TargetResolution:
    """A multiclass target: each typed value is a class (its text); the class order is the
    contract's ``classes`` or the sorted labels. A class with fewer than ``min_class_rows``
    rows refuses training (named, with its count), or is merged into ``other`` when the
    contract says ``rare_classes: other``. A value outside declared classes is not valid."""
    target = contract.target
    name = target.column
    label_of = {t: None if p.value is None else to_text(p.value).strip() for t, p in parsed.items()}
    observed: Counter = Counter()
    for t, label in label_of.items():
        if label is not None:
            observed[label] += counts[t]
    declared = list(target.classes or [])
    invalid = dict(common.pop("invalid"))
    if declared:
        for t, label in label_of.items():
            if label is not None and label not in declared:
                invalid[f"{t}: not one of the declared classes"] = counts[t]
                label_of[t] = None
        observed = Counter({c: observed.get(c, 0) for c in declared})
    rare = [c for c, n in observed.items() if n < target.min_class_rows and c != OTHER]
    errors: list[str] = []
    merged: tuple[str, ...] = ()
    if rare and target.rare_classes == "other":
        merged = tuple(sorted(rare))
        label_of = {t: OTHER if c in merged else c for t, c in label_of.items()}
        observed[OTHER] += sum(observed.pop(c) for c in merged)
        if observed[OTHER] < target.min_class_rows:  # still too few to learn, or to monitor
            errors.append(
                f"target {name!r}: the rare classes merged into {OTHER!r} ("
                + ", ".join(map(repr, merged))
                + f") have {observed[OTHER]} rows together, fewer than min_class_rows "
                f"{target.min_class_rows}; leave them out of the column's categories (ingest "
                "then quarantines their rows with the reason) or collect more rows"
            )
    elif rare:
        errors.append(
            f"target {name!r}: class(es) with fewer than {target.min_class_rows} rows: "
            + ", ".join(f"{c!r} {observed[c]}" for c in sorted(rare, key=observed.__getitem__))
            + "; collect more rows, set target.min_class_rows lower, or set "
            f"target.rare_classes: other to merge them into {OTHER!r}"
        )
    order = [c for c in declared if c in observed] if declared else sorted(observed)
    if merged and OTHER not in order:  # declared classes name the others, not ``other``
        order.append(OTHER)
    if OTHER in order:  # ``other`` last, after the named classes
        order = [c for c in order if c != OTHER] + [OTHER]
    if not errors and len(order) < 3:
        errors.append(
            f"target {name!r} resolves to {len(order)} class(es); a multiclass target needs "
            "at least 3 (use kind: binary for two)"
        )
    if len(order) > MAX_CLASSES:
        errors.append(
            f"target {name!r} has {len(order)} classes; at most {MAX_CLASSES} are supported "
            f"(set rare_classes: other, or is {name!r} a text field?)"
        )
    code = {c: i for i, c in enumerate(order)}
    codes = {t: code.get(label, -1) if label is not None else -1 for t, label in label_of.items()}
    y = np.fromiter((codes[t] for t in texts), dtype=np.int16, count=len(texts))
    classes = {c: observed[c] for c in order}
    return TargetResolution(
        name, "multiclass", y, classes, errors=errors, merged=merged, invalid=invalid, **common
    )


def class_codes(
    values: Sequence[Any], classes: Sequence[str], merged: Sequence[str] = ()
) -> np.ndarray:
    """Class codes (int16, the order of ``classes``) of curated target values: a value's text
    names its class; a rare class merged at training counts as ``other``; -1 for anything
    else (missing, or a class the model does not know). Lenient, like ``label_vector``."""
    code = {c: i for i, c in enumerate(classes)}
    if OTHER in code:
        code.update({c: code[OTHER] for c in merged})
    if not len(values):
        return np.zeros(0, dtype=np.int16)
    texts = np.array([to_text(v).strip() for v in values], dtype=object).astype(str)
    distinct, rows = np.unique(texts, return_inverse=True)
    return np.asarray([code.get(t, -1) for t in distinct], dtype=np.int16)[rows]


def _target_rule(contract: "Contract") -> ValueRule:
    """The target column's value rule, with missing values counted rather than refused."""
    name = contract.target.column
    rule = ValueRule.from_column(name, contract.columns[name], contract.format)
    return replace(rule, nullable=True, target=False)


def resolve_labels(
    contract: "Contract",
    values: Sequence[Any],
    negative_label: str | None,
    classes: Sequence[str] = (),
    merged: Sequence[str] = (),
) -> TargetResolution:
    """Delayed labels (a labels/ file's target column), typed exactly as training types its
    target: each value is parsed by the target column's rule (the same missing markers and
    boolean spellings as ingest), then matched with ``label_vector`` to the two classes the
    model was trained on (``positive_label``, and ``negative_label`` from its feature spec).
    A value that is neither class is not valid (y -1) and counted in ``invalid``: never
    taken as the negative class. Regression: numbers by the same rule (NaN when invalid).
    Multiclass: codes in the order of the model's ``classes`` (its feature spec); a class
    ``merged`` into ``other`` at training counts as ``other``; any other value is not valid
    (every value, when the model has no classes: it was not trained as multiclass).
    Unlike ``resolve_target`` it never refuses: one batch of labels may hold one class."""
    name = contract.target.column
    texts, counts, parsed, spellings, missing, invalid = _observed(contract, values)
    if contract.target.kind == "regression":
        numbers = {t: np.nan if p.value is None else float(p.value) for t, p in parsed.items()}
        y = np.array([numbers[t] for t in texts], dtype=np.float64)
        return TargetResolution(
            name, "regression", y, {}, spellings, missing=missing, invalid=invalid
        )
    if contract.target.kind == "multiclass":
        # no classes: the champion was not trained as multiclass (the contract changed since)
        why = "not one of the model's classes" if classes else "the model has no classes"
        index = {c: i for i, c in enumerate(classes)}
        if OTHER in index:
            index.update({c: index[OTHER] for c in merged if c not in index})
        codes: dict[str, int] = {}
        for t, p in parsed.items():
            codes[t] = -1 if p.value is None else index.get(to_text(p.value).strip(), -2)
            if codes[t] == -2:
                codes[t] = -1
                invalid[f"{t}: {why}"] = counts[t]
        y = np.fromiter((codes[t] for t in texts), dtype=np.int16, count=len(texts))
        shown_classes = {c: int((y == i).sum()) for i, c in enumerate(classes)}
        return TargetResolution(
            name, "multiclass", y, shown_classes, spellings, missing=missing, invalid=invalid,
            merged=tuple(merged),
        )  # fmt: skip
    positive = str(contract.target.positive_label)
    negative = None if not negative_label or negative_label == f"not {positive}" else negative_label
    code: dict[str, int] = {}
    for t, p in parsed.items():
        if p.value is None:
            code[t] = -1
        elif label_vector([p.value], positive)[0]:
            code[t] = 1
        elif negative is None or label_vector([p.value], negative)[0]:
            code[t] = 0
        else:
            code[t] = -1
            invalid[f"{t}: neither {positive!r} nor {negative!r}"] = counts[t]
    y = np.fromiter((code[t] for t in texts), dtype=np.int8, count=len(texts))
    classes_seen = {
        positive: int((y == 1).sum()),
        negative or f"not {positive}": int((y == 0).sum()),
    }
    return TargetResolution(
        name, "binary", y, classes_seen, spellings, positive, negative, missing, invalid
    )


def _same(value: Any) -> Any:
    return value


def _all_boolean(values: list[Any]) -> bool:
    return all(_truth_of(v) is not None for v in values)


def _most_common(parsed: dict, counts: Counter, key: Any, wanted: Any) -> str:
    return max(
        (t for t, p in parsed.items() if p.value is not None and key(p.value) == wanted),
        key=lambda t: counts[t],
    )


def label_vector(values: Sequence[Any], positive_label: str) -> np.ndarray:
    """1 where a (curated) target value means ``positive_label``: the same text, or the same
    truth when both are boolean spellings (a bool target's True for "Yes"). Lenient: it
    never refuses; ``resolve_target`` is the check."""
    want = to_text(positive_label).strip()
    want_truth = truth(want)
    if not len(values):
        return np.zeros(0, dtype=np.int8)
    texts = np.array([to_text(v) for v in values], dtype=object).astype(str)
    distinct, rows = np.unique(texts, return_inverse=True)
    hits = [
        t.strip() == want or (want_truth is not None and truth(t) == want_truth) for t in distinct
    ]
    return np.asarray(hits, dtype=np.int8)[rows]


assert set(_PAIRS) == TRUE_SPELLINGS | FALSE_SPELLINGS
