"""Multiclass gates: the binary gates' rules on the multiclass measures.

- a floor on the macro one-vs-rest AUC (``min_auc``; the point value, with its interval shown);
- an optional ceiling on the held-out log loss (``max_log_loss``);
- beat the linear baseline and not be worse than the champion, by the paired interval of the
  macro-AUC difference on the same rows (fails only when the whole interval is past the margin);
- calibration: the top-label expected calibration error (is the most probable class right as
  often as its probability says?), failing only when its lower bound is above ``max_ece``;
- slice parity: the macro AUC per group of each declared slice column; a macro AUC on a
  group of a few hundred rows is noisy (each class contributes its own AUC), so the gap fails
  only when even the lower bound of the best group minus the upper bound of the worst group
  is above ``max_slice_gap``.

The chosen candidate is gated first; if it fails, the other is gated the same way and wins
if it passes every gate (as for binary)."""

from typing import Any

import numpy as np

from tabflow.contract import Gates
from tabflow.evaluation.intervals import ece_interval, macro_auc_difference, macro_auc_interval
from tabflow.gates import (
    BASELINE,
    Decision,
    GateResult,
    HeldOut,
    Judging,
    _with_fallback,
    auc_comparisons,
    limit_gate,
)


def decide_multiclass(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    *,
    champion: dict[str, Any] | None = None,
    held_out: HeldOut,
    slices_by_candidate: dict[str, dict[str, Any]] | None = None,
) -> Decision:
    """Gate the chosen candidate on the held-out rows (``held_out.y``: class codes; its
    scores: rows x classes probabilities); the other candidate may win if the chosen fails."""

    judging = Judging(candidates, config, champion, held_out, slices_by_candidate or {})
    return _with_fallback(chosen, judging, _decide)


def _decide(chosen: str, judging: Judging) -> Decision:
    candidates, config = judging.candidates, judging.config
    champion, held_out = judging.champion, judging.held_out
    slices = judging.slices(chosen)
    assert held_out is not None  # multiclass gates always have the held-out rows
    m = candidates[chosen]
    auc = m.get("auc")
    y = np.asarray(held_out.y, dtype=np.int64)
    n = len(y)
    mine = held_out.scores[chosen]
    two_classes = len(np.unique(y)) > 1
    auc_iv = macro_auc_interval(y, mine) if two_classes else None
    what = f"{chosen} held-out macro AUC {auc_iv.text() if auc_iv else auc} on {n} rows"
    gates = [limit_gate("auc_floor", auc, config.min_auc, what, interval=auc_iv)]
    if config.max_log_loss is not None:
        loss = m.get("log_loss")
        what = f"{chosen} held-out log loss {loss} on {n} rows"
        gates.append(limit_gate("log_loss_ceiling", loss, config.max_log_loss, what, ceiling=True))
    gates += auc_comparisons(
        chosen,
        candidates,
        config,
        champion,
        mine if two_classes else None,
        held_out.scores.get(BASELINE),
        held_out.champion,
        lambda a, b: macro_auc_difference(y, a, b),
        n,
        "macro AUC",
    )
    if config.max_ece is not None and n:
        correct = mine.argmax(axis=1) == y
        ece_iv = ece_interval(correct, mine.max(axis=1), seed=held_out.seed)
        gates.append(
            GateResult(
                "calibration",
                ece_iv.low <= config.max_ece,
                m.get("ece"),
                config.max_ece,
                f"top-label expected calibration error {ece_iv.text()} on {n} rows vs ceiling "
                f"{config.max_ece}; fails only when the lower bound is above it",
                ece_iv,
            )
        )
    gates += [_slice_gate(column, groups, config) for column, groups in (slices or {}).items()]
    return Decision(winner=chosen, promote=all(g.passed for g in gates), gates=tuple(gates))


def _slice_gate(column: str, groups: dict[str, Any], config: Gates) -> GateResult:
    name = f"slice_parity:{column}"
    if "error" in groups:
        return GateResult(name, False, None, config.max_slice_gap, groups["error"])
    scored = {g: v for g, v in groups.items() if v["auc"] is not None}
    if len(scored) < 2:
        return GateResult(
            name,
            True,
            None,
            config.max_slice_gap,
            f"fewer than two groups with {config.min_slice_rows}+ rows and two classes",
        )
    best = max(scored, key=lambda g: scored[g]["auc"])
    worst = min(scored, key=lambda g: scored[g]["auc"])
    gap = round(scored[best]["auc"] - scored[worst]["auc"], 6)
    surely = round(max(0.0, scored[best]["low"] - scored[worst]["high"]), 6)
    shown = ", ".join(
        f"{g}: {v['auc']:.3f} [{v['low']:.3f}, {v['high']:.3f}] ({v['rows']} rows)"
        for g, v in scored.items()
    )
    return GateResult(
        name,
        surely <= config.max_slice_gap,
        gap,
        config.max_slice_gap,
        f"macro AUC by {column}: {shown}; gap {gap}, at least {surely} (the best group's lower "
        f"bound minus the worst group's upper bound): fails only when that is above "
        f"{config.max_slice_gap}",
    )
