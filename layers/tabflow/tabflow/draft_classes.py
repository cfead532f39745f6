"""Drafting a multiclass target (``contract infer``): the column's declaration and the
comment that says which rare classes a draft merged into ``other``."""

from typing import Any

SHOWN = 10  # rare classes named in the draft's comment


def multiclass_target(
    columns: dict[str, dict], prof: Any, col: str, spec: dict, coded: bool, notes: list[str]
) -> dict[str, Any]:
    """A target of 3 to MAX_CLASSES values: whole numbers naming classes, or a category (a
    class a later file brings is kept, ``unseen: keep``, and counted by training)."""
    if coded:
        columns[col] = {"type": "int", "nullable": False}
        notes.append(f"target {col!r}: {len(prof.groups)} whole numbers, drafted as classes; "
                     "if it is a quantity, write kind: regression")  # fmt: skip
        return {"column": col, "kind": "multiclass"}
    columns[col] = {"type": "category", "categories": sorted(prof.spelling.values()),
                    "unseen": "keep", "nullable": False}  # fmt: skip
    if len(prof.counts) > len(prof.groups):
        columns[col]["ignore_case"] = True
    return {"column": col, "kind": "multiclass"}


def rare_comment(text: str, trained: Any, rows: int, name: str) -> str:
    merged = ", ".join(repr(c) for c in trained.merged[:SHOWN])
    more = f" and {len(trained.merged) - SHOWN} more" if len(trained.merged) > SHOWN else ""
    why = (
        f"  # {len(trained.merged)} class(es) have fewer than {rows} of the rows training sees "
        f"in {name} ({merged}{more}): merged into 'other'; remove this line to refuse training"
    )
    return text.replace("  rare_classes: other\n", f"  rare_classes: other{why}\n", 1)
