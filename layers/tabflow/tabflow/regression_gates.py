"""Regression gates: error ceilings, beating the seasonal/mean baseline, not being worse than
the champion, the prediction interval's coverage on the test rows, and MAE parity across the
groups of the declared slice columns. Each records its value, threshold, verdict and interval.

The comparisons are paired bootstrap intervals on the same rows (RMSE difference against the
baseline, RMSE ratio against the champion) and fail only beyond the noise. The coverage gate
knows its row count too: it judges the whole 95% Wilson interval of the covered share. An
interval that covers too little overstates how sure the model is: it fails when the Wilson
interval lies below the declared coverage minus ``coverage_tolerance``. One that covers too
much is only conservative (later rows are often harder than the calibration rows): it fails
when the Wilson interval lies above the declared coverage plus the tolerance AND above the
point where it misses less than half as often as declared (95% for a declared 90%)."""

import math
from typing import Any

import numpy as np

from tabflow.contract import Gates
from tabflow.evaluation.intervals import Interval, error_difference
from tabflow.gates import Decision, GateResult, HeldOut, Judging, _comparison, _with_fallback


def decide_regression(
    chosen: str,
    candidates: dict[str, dict[str, Any]],
    config: Gates,
    *,
    baseline: dict[str, Any],
    champion: dict[str, Any] | None = None,
    held_out: HeldOut | None = None,
    slices_by_candidate: dict[str, dict[str, Any]] | None = None,
) -> Decision:
    """Gate the chosen candidate; with ``held_out`` the comparisons are paired on the same
    rows, and when the chosen candidate fails the other is gated and may win. A candidate's
    metrics carry its interval's coverage on the test rows (``interval``) when it has one."""

    judging = Judging(candidates, config, champion, held_out, slices_by_candidate or {})
    return _with_fallback(chosen, judging, lambda n, j: _decide_regression(n, j, baseline))


def _decide_regression(chosen: str, judging: Judging, baseline: dict[str, Any]) -> Decision:
    candidates, config = judging.candidates, judging.config
    champion, held_out = judging.champion, judging.held_out
    slices = judging.slices(chosen)
    m = candidates[chosen]
    rmse = m["rmse"]
    mine = held_out.scores.get(chosen) if held_out else None
    y, seed = (held_out.y, held_out.seed) if held_out else (np.zeros(0), 0)
    theirs = held_out.baseline if held_out else None
    diff = (
        error_difference(y, mine, theirs, seed=seed)
        if mine is not None and theirs is not None
        else None
    )
    beats = _comparison(
        "beats_baseline",
        rmse,
        baseline["rmse"],
        f"{chosen} RMSE {rmse} vs {baseline['name']} baseline {baseline['rmse']}",
        rmse <= baseline["rmse"],
        diff,
        diff is not None and diff.low <= 0.0,
        "the whole interval is above 0",
        len(y),
    )
    gates = [beats]
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
        limit = 1 + config.champion_tolerance
        ceiling = round(champion["rmse"] * limit, 6)
        theirs = held_out.champion if held_out else None
        ratio = (
            error_difference(y, mine, theirs, ratio=True, seed=seed)
            if mine is not None and theirs is not None
            else None
        )
        gates.append(
            _comparison(
                "not_worse_than_champion",
                rmse,
                ceiling,
                f"RMSE {rmse} vs champion v{champion['version']} {champion['rmse']}",
                rmse <= ceiling,
                ratio,
                ratio is not None and ratio.low <= limit,
                f"the whole interval is above {limit:g}",
                len(y),
                "ratio",
            )
        )
    if "interval" in m:
        gates.append(coverage_gate(chosen, m["interval"], config))
    gates += mae_slice_gates(slices, config)
    return Decision(winner=chosen, promote=all(g.passed for g in gates), gates=tuple(gates))


def coverage_gate(name: str, held: dict[str, Any] | None, config: Gates) -> GateResult:
    """The share of test rows inside their interval against the declared coverage, judged
    by its Wilson interval on the test row count (``evaluation.conformal.interval_metrics``)."""
    if not held or held.get("coverage") is None:
        return GateResult(
            "interval_coverage",
            False,
            None,
            None,
            f"{name} has no prediction interval (no calibration rows, or a model without one)",
        )
    declared, tol = held["declared"], config.coverage_tolerance
    iv = Interval(held["coverage"], held["low"], held["high"], 0.95, "wilson")
    widest = round(max(declared + tol, 1 - (1 - declared) / 2), 6)
    passed = iv.high >= declared - tol and iv.low <= widest
    return GateResult(
        "interval_coverage",
        passed,
        held["coverage"],
        declared,
        f"{name} interval covers {held['covered']} of {held['rows']} test rows: "
        f"{iv.text()} vs declared {declared}; fails only when the whole interval is outside "
        f"[{declared - tol:g}, {widest:g}] (mean width {held['mean_width']})",
        iv,
    )


def mae_slice_gates(slices: dict[str, Any] | None, config: Gates) -> list[GateResult]:
    """MAE parity across the groups of each declared slice column: the largest group MAE
    over the smallest (groups with ``min_slice_rows`` rows or more)."""
    gates = []
    limit = config.max_slice_mae_ratio
    for column, groups in (slices or {}).items():
        name = f"slice_parity:{column}"
        if "error" in groups:
            gates.append(GateResult(name, False, None, limit, groups["error"]))
            continue
        maes = {g: v["mae"] for g, v in groups.items() if v.get("mae") is not None}
        if len(maes) < 2:
            gates.append(
                GateResult(
                    name,
                    True,
                    None,
                    limit,
                    f"fewer than two groups with {config.min_slice_rows}+ rows",
                )
            )
            continue
        low, high = min(maes.values()), max(maes.values())
        ratio = high / low if low > 0 else math.inf
        detail = ", ".join(
            f"{g}: {a:.3f}"
            + (f" (coverage {groups[g]['coverage']:.3f})" if "coverage" in groups[g] else "")
            for g, a in maes.items()
        )
        gates.append(
            GateResult(
                name,
                ratio <= limit,
                round(ratio, 6) if math.isfinite(ratio) else None,
                limit,
                f"MAE by {column}: {detail} (largest over smallest {ratio:.3f})",
            )
        )
    return gates
