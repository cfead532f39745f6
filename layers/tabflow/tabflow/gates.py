"""Evaluation gates: which candidate wins, and whether it may become the champion.

A frozen config (the contract's gates) plus a pure function returning a typed decision;
every gate records its value, threshold, verdict and its interval (point, low, high).

Gates know their sample size. A comparison between two models on the same held-out rows
(beat the baseline, not worse than the champion) fails only when the candidate is worse
beyond the noise: the whole paired interval of the difference lies past the margin. The
calibration ceiling fails only when the lower bound of the expected calibration error is
above it (ECE is biased upward on few rows). Floors (AUC, PR-AUC, RMSE, R2) compare the
point value: a floor states what a model must reach, and the point estimate is unbiased.

The chosen candidate (picked on validation rows) is gated first; if it fails, the other
candidate is gated the same way and wins if it passes every gate. So a new dataset gets a
first champion, the linear baseline if need be, whenever one candidate passes."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tabflow.contract import Gates
from tabflow.evaluation.intervals import (
    Interval,
    auc_difference,
    auc_interval,
    ece_interval,
)

# The regression decision is in tabflow.regression_gates (error ceilings, the baseline and the
# champion by paired bootstrap, the prediction interval's coverage, MAE parity across slices).

BASELINE = "linear"  # the binary baseline candidate that LightGBM must not lose to


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str
    interval: Interval | None = None  # of the value, or of the difference it is judged on

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
            "interval": None if self.interval is None else self.interval.to_dict(),
        }


@dataclass(frozen=True)
class Decision:
    winner: str
    promote: bool
    gates: tuple[GateResult, ...]
    passed_over: dict[str, Any] | None = None  # the chosen candidate, when another one won

    @property
    def failed(self) -> list[str]:
        return [g.name for g in self.gates if not g.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "winner": self.winner,
            "promote": self.promote,
            "failed": self.failed,
            "gates": [g.to_dict() for g in self.gates],
            "passed_over": self.passed_over,
        }


@dataclass(frozen=True)
class HeldOut:
    """The test rows' labels (or values) and each model's scores on those same rows: what
    makes comparisons paired. ``champion`` is the current champion's scores, if comparable."""

    y: np.ndarray
    scores: dict[str, np.ndarray]
    champion: np.ndarray | None = None
    baseline: np.ndarray | None = None  # regression: the seasonal/mean forecast
    seed: int = 0  # of the bootstrap resamples


@dataclass(frozen=True)
class Judging:
    """What each candidate is gated against: every candidate's held-out metrics, the gates,
    the champion's metrics, the held-out rows (every candidate's scores on the same rows) and
    each candidate's slices."""

    candidates: dict[str, dict[str, Any]]
    config: Gates
    champion: dict[str, Any] | None = None
    held_out: HeldOut | None = None
    slices_by_candidate: dict[str, dict[str, Any]] = field(default_factory=dict)

    def slices(self, name: str) -> dict[str, Any] | None:
        return self.slices_by_candidate.get(name)


def _with_fallback(
    chosen: str, judging: Judging, decide_one: Callable[[str, Judging], Decision]
) -> Decision:
    """Gate ``chosen``; if it fails, each other candidate scored on the held-out rows (none
    without them) is gated the same way and wins if it passes."""
    first = decide_one(chosen, judging)
    held_out = judging.held_out
    names = [n for n in judging.candidates if n in held_out.scores] if held_out else []
    if first.promote:
        return first
    for other in (n for n in names if n != chosen):
        alternative = decide_one(other, judging)
        if alternative.promote:
            return Decision(
                other,
                True,
                alternative.gates,
                {"candidate": chosen, "failed": first.failed, "gates": first.to_dict()["gates"]},
            )
    return first


def decide(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    *,
    champion: dict[str, Any] | None = None,
    slices: dict[str, Any] | None = None,
    held_out: HeldOut | None = None,
    slices_by_candidate: dict[str, dict[str, Any]] | None = None,
) -> Decision:
    """Gate the chosen candidate with its held-out metrics; with ``held_out`` (the scores on
    the same rows) comparisons and calibration account for the test size, and when the
    chosen candidate fails, the other one is gated and may win."""
    if chosen not in candidates:
        raise ValueError(f"no metrics for the chosen candidate {chosen!r}")

    by_candidate = ({chosen: slices} if slices is not None else {}) | (slices_by_candidate or {})
    judging = Judging(candidates, config, champion, held_out, by_candidate)
    return _with_fallback(chosen, judging, _decide_binary)


def _decide_binary(chosen: str, judging: Judging) -> Decision:
    candidates, config = judging.candidates, judging.config
    champion, held_out = judging.champion, judging.held_out
    slices = judging.slices(chosen)
    m = candidates[chosen]
    auc = m.get("auc")
    y = np.asarray(held_out.y).astype(bool) if held_out else np.zeros(0, dtype=bool)
    both_classes = bool(y.any() and (~y).any())
    mine = held_out.scores.get(chosen) if held_out and both_classes else None
    n = len(y)
    rows = f" on {n} rows" if held_out else ""
    auc_iv = auc_interval(y, mine) if mine is not None else None
    what = f"{chosen} held-out AUC {auc_iv.text() if auc_iv else auc}{rows}"
    gates = [limit_gate("auc_floor", auc, config.min_auc, what, interval=auc_iv)]
    if config.min_pr_auc is not None:
        pr = m.get("pr_auc")
        what = f"{chosen} held-out PR-AUC {pr}"
        gates.append(limit_gate("pr_auc_floor", pr, config.min_pr_auc, what))
    gates += auc_comparisons(
        chosen,
        candidates,
        config,
        champion,
        mine,
        held_out.scores.get(BASELINE) if held_out else None,
        held_out.champion if held_out else None,
        lambda a, b: auc_difference(y, a, b),
        n,
    )
    if config.max_ece is not None:
        ece = m.get("ece")
        ece_iv = (
            ece_interval(y, mine, seed=held_out.seed) if held_out and mine is not None else None
        )
        bound = ece_iv.low if ece_iv else ece  # the lower bound when the rows are known
        gates.append(
            GateResult(
                "calibration",
                bound is not None and bound <= config.max_ece,
                ece,
                config.max_ece,
                f"expected calibration error {ece_iv.text() if ece_iv else ece}{rows} vs ceiling "
                f"{config.max_ece}"
                + ("; fails only when the lower bound is above it" if ece_iv else ""),
                ece_iv,
            )
        )
    gates += _slice_gates(slices, config)
    return Decision(winner=chosen, promote=all(g.passed for g in gates), gates=tuple(gates))


def limit_gate(
    name: str,
    value: float | None,
    limit: float,
    what: str,
    *,
    ceiling: bool = False,
    interval: Interval | None = None,
) -> GateResult:
    """A floor (or a ceiling) on a point value: what a model must reach states a level, and
    the point estimate is unbiased; its interval, when known, is shown."""
    passed = value is not None and (value <= limit if ceiling else value >= limit)
    side = "ceiling" if ceiling else "floor"
    return GateResult(name, passed, value, limit, f"{what} vs {side} {limit}", interval)


def auc_comparisons(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    champion: dict[str, Any] | None,
    mine: np.ndarray | None,
    baseline: np.ndarray | None,
    champion_scores: np.ndarray | None,
    difference: Callable[[np.ndarray, np.ndarray], Interval],
    rows: int,
    measure: str = "AUC",
) -> list[GateResult]:
    """Beat the linear baseline and not be worse than the champion: by the paired interval
    ``difference(mine, theirs)`` of the AUC (multiclass: macro AUC) on the same rows, when
    both score them, else by the point values."""
    auc = candidates[chosen].get("auc")
    gates = []

    def diff(theirs: np.ndarray | None) -> Interval | None:
        return difference(mine, theirs) if mine is not None and theirs is not None else None

    if config.beat_baseline and chosen != BASELINE and BASELINE in candidates:
        base = candidates[BASELINE].get("auc") or 0.0
        d = diff(baseline)
        gates.append(
            _comparison(
                "beats_baseline",
                auc,
                base,
                f"{chosen} {measure} {auc} vs {BASELINE} baseline {base}",
                (auc or 0.0) >= base,
                d,
                d is not None and d.high >= 0.0,
                "the whole interval is below 0",
                rows,
            )
        )
    if champion and champion.get("comparable"):
        tolerance = config.champion_tolerance
        floor = round((champion["auc"] or 0.0) - tolerance, 6)
        d = diff(champion_scores)
        gates.append(
            _comparison(
                "not_worse_than_champion",
                auc,
                floor,
                f"{measure} {auc} vs champion v{champion['version']} {champion['auc']} "
                f"(tolerance {tolerance})",
                (auc or 0.0) >= floor,
                d,
                d is not None and d.high >= -tolerance,
                f"the whole interval is below -{tolerance}",
                rows,
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
    return gates


def _comparison(
    name: str,
    value: float | None,
    threshold: float | None,
    what: str,
    point_passes: bool,
    diff: Interval | None,
    interval_passes: bool,
    fails_when: str,
    rows: int,
    measure: str = "difference",
) -> GateResult:
    """A gate comparing two models on the same rows: by the paired interval of the
    difference (or ratio) when there is one, by the point values otherwise."""
    if diff is None:
        return GateResult(name, point_passes, value, threshold, f"{what} on the same rows")
    detail = (
        f"{what} on the same {rows} rows: {measure} {diff.text()}; fails only when {fails_when}"
    )
    return GateResult(name, interval_passes, value, threshold, detail, diff)


def _slice_gates(slices: dict[str, Any] | None, config: Gates) -> list[GateResult]:
    gates = []
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
    return gates
