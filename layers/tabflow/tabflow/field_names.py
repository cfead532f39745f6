"""Field-name matching shared by file headers (ingest, batch) and request fields (the API):
'Monthly Charges ($)', 'monthlyCharges' and 'monthly_charges' name one column; a column's
aliases are spellings of it too."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol


class Named(Protocol):  # a values.ValueRule
    name: str
    aliases: tuple[str, ...]


def name_key(name: str) -> str:
    """What two spellings of a field name must share: 'Monthly Charges ($)', 'monthlyCharges'
    and 'MONTHLY_CHARGES' all give 'monthlycharges'."""
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())


def name_lookup(rules: Iterable[Named]) -> dict[str, str]:
    """Key of every spelling (name and aliases) -> the column's name; a column's own name
    wins over another column's alias."""
    rules = list(rules)
    lookup = {name_key(r.name): r.name for r in reversed(rules)}
    for r in rules:
        for alias in r.aliases:
            lookup.setdefault(name_key(alias), r.name)
    return lookup


def match_names(
    names: Sequence[str], lookup: Mapping[str, str]
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Each name -> the column it spells (itself when unknown), and the clashes: (first,
    second, column) where two names spell the same column."""
    known = set(lookup.values())
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for n in names:
        target = n if n in known else lookup.get(name_key(n), n)
        if target in seen:
            clashes.append((seen[target], n, target))
            continue
        seen[target] = n
        mapping[n] = target
    return mapping, clashes


def canonical_fields(
    record: Mapping[str, Any], lookup: Mapping[str, str]
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """A record with its field names replaced by the columns they spell (unknown names kept)."""
    mapping, clashes = match_names(list(record), lookup)
    return {mapping[k]: v for k, v in record.items() if k in mapping}, clashes


def check_spellings(spellings: Mapping[str, Iterable[str]]) -> None:
    """Header matching ignores case, spaces and punctuation: two columns (or aliases) that
    would match the same header are a mistake. ``spellings``: column -> its name and aliases."""
    owner: dict[str, str] = {}
    for name, names in spellings.items():
        for spelling in {name_key(s) for s in names}:
            other = owner.setdefault(spelling, name)
            if other != name:
                raise ValueError(
                    f"columns {other!r} and {name!r} match the same header spelling {spelling!r}"
                )
