"""Evaluation gates: which candidate wins, and whether it may become the champion.

A frozen config (the contract's gates) plus a pure function returning a typed decision;
every gate records its value, threshold and verdict so emails and reports can explain it."""

from dataclasses import asdict, dataclass
from typing import Any

from tabflow.contract import Gates


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str


@dataclass(frozen=True)
class Decision:
    winner: str
    promote: bool
    gates: tuple[GateResult, ...]

    @property
    def failed(self) -> list[str]:
        return [g.name for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "promote": self.promote,
            "failed": self.failed,
            "gates": [asdict(g) for g in self.gates],
        }


def decide(candidates: dict[str, dict[str, Any]], config: Gates) -> Decision:
    """Pick the candidate with the best held-out AUC (the baseline may win), then gate it."""
    if not candidates:
        raise ValueError("no candidates to decide between")
    winner = max(candidates, key=lambda name: candidates[name].get("auc") or 0.0)
    auc = candidates[winner].get("auc")
    floor = GateResult(
        name="auc_floor",
        passed=auc is not None and auc >= config.min_auc,
        value=auc,
        threshold=config.min_auc,
        detail=f"{winner} held-out AUC {auc if auc is not None else 'n/a'} vs floor {config.min_auc}",
    )
    gates = (floor,)
    return Decision(winner=winner, promote=all(g.passed for g in gates), gates=gates)
