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


def decide(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    *,
    champion: dict[str, Any] | None = None,
    slices: dict[str, Any] | None = None,
) -> Decision:
    """Gate the chosen candidate (picked on validation rows) with its held-out metrics."""
    if chosen not in candidates:
        raise ValueError(f"no metrics for the chosen candidate {chosen!r}")
    m = candidates[chosen]
    auc = m.get("auc")
    gates = [
        GateResult(
            "auc_floor",
            auc is not None and auc >= config.min_auc,
            auc,
            config.min_auc,
            f"{chosen} held-out AUC {auc} vs floor {config.min_auc}",
        )
    ]
    if config.min_pr_auc is not None:
        pr = m.get("pr_auc")
        gates.append(
            GateResult(
                "pr_auc_floor",
                pr is not None and pr >= config.min_pr_auc,
                pr,
                config.min_pr_auc,
                f"{chosen} held-out PR-AUC {pr} vs floor {config.min_pr_auc}",
            )
        )
    if config.beat_baseline and chosen != "linear" and "linear" in candidates:
        base = candidates["linear"].get("auc") or 0.0
        gates.append(
            GateResult(
                "beats_baseline",
                (auc or 0.0) >= base,
                auc,
                base,
                f"{chosen} AUC {auc} vs linear baseline {base} on the same rows",
            )
        )
    if champion and champion.get("comparable"):
        floor = (champion["auc"] or 0.0) - config.champion_tolerance
        gates.append(
            GateResult(
                "not_worse_than_champion",
                (auc or 0.0) >= floor,
                auc,
                round(floor, 6),
                f"AUC {auc} vs champion v{champion['version']} {champion['auc']} on the same rows "
                f"(tolerance {config.champion_tolerance})",
            )
        )
    elif champion:
        gates.append(
            GateResult(
                "not_worse_than_champion",
                True,
                None,
                None,
                f"champion v{champion['version']} not comparable: {champion.get('reason')}",
            )
        )
    if config.max_ece is not None:
        ece = m.get("ece")
        gates.append(
            GateResult(
                "calibration",
                ece is not None and ece <= config.max_ece,
                ece,
                config.max_ece,
                f"expected calibration error {ece} vs ceiling {config.max_ece}",
            )
        )
    for column, groups in (slices or {}).items():
        if "error" in groups:
            gates.append(
                GateResult(
                    f"slice_parity:{column}", False, None, config.max_slice_gap, groups["error"]
                )
            )
            continue
        aucs = {g: v["auc"] for g, v in groups.items() if v["auc"] is not None}
        if len(aucs) < 2:
            gates.append(
                GateResult(
                    f"slice_parity:{column}",
                    True,
                    None,
                    config.max_slice_gap,
                    f"fewer than two groups with {config.min_slice_rows}+ rows and both classes",
                )
            )
            continue
        gap = round(max(aucs.values()) - min(aucs.values()), 6)
        detail = ", ".join(f"{g}: {a:.3f}" for g, a in aucs.items())
        gates.append(
            GateResult(
                f"slice_parity:{column}",
                gap <= config.max_slice_gap,
                gap,
                config.max_slice_gap,
                f"AUC by {column}: {detail} (gap {gap})",
            )
        )
    return Decision(winner=chosen, promote=all(g.passed for g in gates), gates=tuple(gates))


def decide_regression(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    *,
    baseline: dict[str, Any],
    champion: dict[str, Any] | None = None,
) -> Decision:
    """Regression: error ceilings, beating the seasonal/mean baseline, and not being worse than
    the champion by more than the tolerance (as a share of its RMSE)."""
    m = candidates[chosen]
    rmse = m["rmse"]
    gates = [
        GateResult(
            "beats_baseline",
            rmse <= baseline["rmse"],
            rmse,
            baseline["rmse"],
            f"{chosen} RMSE {rmse} vs {baseline['name']} baseline {baseline['rmse']} on the same rows",
        )
    ]
    if config.max_rmse is not None:
        gates.append(
            GateResult(
                "rmse_ceiling",
                rmse <= config.max_rmse,
                rmse,
                config.max_rmse,
                f"{chosen} held-out RMSE {rmse} vs ceiling {config.max_rmse}",
            )
        )
    if config.min_r2 is not None:
        r2 = m.get("r2")
        gates.append(
            GateResult(
                "r2_floor",
                r2 is not None and r2 >= config.min_r2,
                r2,
                config.min_r2,
                f"{chosen} held-out R2 {r2} vs floor {config.min_r2}",
            )
        )
    if champion and champion.get("comparable"):
        ceiling = round(champion["rmse"] * (1 + config.champion_tolerance), 6)
        gates.append(
            GateResult(
                "not_worse_than_champion",
                rmse <= ceiling,
                rmse,
                ceiling,
                f"RMSE {rmse} vs champion v{champion['version']} {champion['rmse']} on the same rows",
            )
        )
    return Decision(winner=chosen, promote=all(g.passed for g in gates), gates=tuple(gates))
