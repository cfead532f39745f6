"""Regression intervals: split conformal covers at the declared rate on rows like the
calibration rows, the scale follows the errors, the interval is stored as JSON with the
model's calibrator, and the gates judge coverage and slice errors with their sample size."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from tabflow.calibration import Calibrator
from tabflow.contract import Gates, parse_contract
from tabflow.errors import ContractError
from tabflow.evaluation.conformal import (
    ConformalInterval,
    conformal_quantile,
    fit_conformal,
    interval_metrics,
    wilson_interval,
)
from tabflow.gates import HeldOut
from tabflow.regression_gates import coverage_gate, decide_regression, mae_slice_gates


def _rows(rng, n, hetero):
    p = rng.uniform(20, 300, n)
    noise = rng.normal(0, 1, n) * (0.15 * p if hetero else 15.0)
    return p + noise, p


@pytest.mark.parametrize("hetero", [False, True])
def test_split_conformal_covers_the_declared_share_of_new_rows(hetero):
    """Over 40 draws of 400 calibration rows, the interval covers 90% of fresh rows on
    average (the finite-sample guarantee: at least 90%, at most 90% + 1/(n+1))."""
    rng = np.random.default_rng(7)
    covered = []
    for _ in range(40):
        y_cal, p_cal = _rows(rng, 400, hetero)
        y_new, p_new = _rows(rng, 4000, hetero)
        iv = fit_conformal(y_cal, p_cal, coverage=0.9)
        covered.append(interval_metrics(y_new, p_new, iv)["coverage"])
    assert 0.895 <= float(np.mean(covered)) <= 0.905 + 1 / 401


def test_auto_scale_follows_the_errors_and_refuses_relative_for_a_signed_target():
    rng = np.random.default_rng(3)
    y, p = _rows(rng, 2000, hetero=True)
    assert fit_conformal(y, p, coverage=0.9).scale == "relative"
    y, p = _rows(rng, 2000, hetero=False)
    assert fit_conformal(y, p, coverage=0.9).scale == "absolute"
    signed = fit_conformal(y - 100, p - 100, coverage=0.9)
    assert signed.scale == "absolute" and "not strictly positive" in signed.reason
    # errors proportional to the value: the relative interval holds at every level, the
    # absolute one over-covers cheap rows and under-covers dear ones
    y, p = _rows(rng, 4000, hetero=True)
    y_new, p_new = _rows(rng, 20000, hetero=True)
    dear = p_new > 200
    for scale, lowest in (("relative", 0.87), ("absolute", 0.0)):
        iv = fit_conformal(y, p, coverage=0.9, scale=scale)
        held = interval_metrics(y_new[dear], p_new[dear], iv)["coverage"]
        assert held >= lowest and (scale == "relative" or held < 0.8)


def test_the_quantile_is_the_finite_sample_rank():
    scores = np.arange(1, 11, dtype=float)  # ceil(11 * 0.9) = 10th smallest
    assert conformal_quantile(scores, 0.9) == 10.0
    assert conformal_quantile(scores, 0.5) == 6.0  # ceil(5.5) = 6th
    assert conformal_quantile(scores[:3], 0.9) == 3.0  # too few rows: the largest
    with pytest.raises(ValueError):
        conformal_quantile(np.array([]), 0.9)


def test_the_interval_is_json_in_the_calibration_file_and_binary_files_are_unchanged():
    iv = ConformalInterval(0.8, 12.5, "relative", 0.9, 1848, "why")
    cal = Calibrator("none", interval=iv)
    again = Calibrator.from_json(cal.to_json())
    assert again.interval == iv and json.loads(cal.to_json())["interval"]["q"] == 12.5
    assert "interval" not in json.loads(Calibrator("platt", 1.2, -0.1).to_json())
    assert Calibrator.from_json(Calibrator("platt", 1.2, -0.1).to_json()).interval is None
    low, high = iv.bounds(np.array([100.0, 0.1]))
    assert low.tolist() == [100 - 1250, 0.1 - 12.5 * 0.9] and high[0] == 100 + 1250
    for bad in ({"q": float("nan")}, {"coverage": 1.0}, {"scale": "log"}, {"q": -1}):
        doc = iv.to_dict() | bad
        with pytest.raises(ValueError):
            ConformalInterval.from_dict(doc)


def test_wilson_interval_matches_scipy():
    for k, n in ((0, 10), (9, 10), (2800, 3080), (45, 50)):
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


CONTRACT = """
dataset: prices
target: {column: price, kind: regression%s}
columns:
  price: {type: float}
  size: {type: float}
"""


def test_the_contract_declares_the_coverage_between_0_and_1():
    assert parse_contract(CONTRACT % "").target.coverage == 0.9
    assert parse_contract(CONTRACT % ", coverage: 0.8").target.coverage == 0.8
    for bad in ("1.0", "0", "-0.2", "1.5", "ninety"):
        with pytest.raises(ContractError, match=r"target\.coverage"):
            parse_contract(CONTRACT % f", coverage: {bad}")
    with pytest.raises(ContractError, match=r"target\.interval"):
        parse_contract(CONTRACT % ", interval: log")


def _held(covered, rows, declared=0.9):
    low, high = wilson_interval(covered, rows)
    return {
        "declared": declared,
        "coverage": covered / rows,
        "covered": covered,
        "rows": rows,
        "low": low,
        "high": high,
        "mean_width": 10.0,
    }


def test_the_coverage_gate_knows_its_row_count():
    gates = Gates()
    # 87% on 200 rows: within the noise of 90% +/- 2 points
    assert coverage_gate("m", _held(174, 200), gates).passed
    # 87% on 20,000 rows: truly under-covers
    failed = coverage_gate("m", _held(17400, 20000), gates)
    assert (
        not failed.passed
        and failed.interval.high < 0.88
        and "wilson" in failed.to_dict()["interval"]["method"]
    )
    # conservative is allowed up to missing half as often as declared (95% for 90%)...
    assert coverage_gate("m", _held(2880, 3080), gates).passed  # 93.5%
    # ...far too wide is not: 99% of 5,000 rows
    assert not coverage_gate("m", _held(4950, 5000), gates).passed
    assert coverage_gate("m", _held(4950, 5000), Gates(coverage_tolerance=0.1)).passed
    # a candidate without an interval cannot pass
    assert not coverage_gate("m", None, gates).passed


def test_mae_parity_across_slices():
    ok = {
        "a": {"rows": 100, "mae": 10.0},
        "b": {"rows": 90, "mae": 12.0},
        "c": {"rows": 3, "mae": None},
    }
    bad = {"a": {"rows": 100, "mae": 10.0}, "b": {"rows": 90, "mae": 25.0}}
    gates = mae_slice_gates(
        {"segment": ok, "channel": bad, "missing": {"error": "no column"}}, Gates()
    )
    verdicts = {g.name: (g.passed, g.value) for g in gates}
    assert verdicts == {
        "slice_parity:segment": (True, 1.2),
        "slice_parity:channel": (False, 2.5),
        "slice_parity:missing": (False, None),
    }


def test_regression_decision_records_the_interval_gate_and_falls_back_on_it():
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 500)
    metrics = {
        "lightgbm": {"rmse": 5.0, "r2": 0.7, "interval": _held(300, 500)},  # 60%: fails
        "linear": {"rmse": 5.5, "r2": 0.65, "interval": _held(452, 500)},
    }
    held = HeldOut(
        y,
        {"lightgbm": y + rng.normal(0, 5, 500), "linear": y + rng.normal(0, 5.5, 500)},
        baseline=np.full(500, 100.0),
    )
    d = decide_regression(
        "lightgbm", metrics, Gates(), baseline={"name": "mean", "rmse": 10.0}, held_out=held
    )
    assert d.winner == "linear" and d.promote
    assert d.passed_over["failed"] == ["interval_coverage"]
    gate = next(g for g in d.to_dict()["gates"] if g["name"] == "interval_coverage")
    assert gate["value"] == 0.904 and gate["threshold"] == 0.9


def test_decay_reports_the_served_intervals_coverage_once_labels_arrive():
    """The monitor's decay check on labelled regression captures: the share of true values
    inside the interval the champion serves (read from its calibration file), and decay when
    that share is below the declared coverage beyond the noise; the alert email says so."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from tabflow.adapters.memory import MemoryStore
    from tabflow.emails import decay_alert
    from tabflow.monitoring.decay import decay_check, served_interval
    from tabflow.ports import ModelVersion

    store = MemoryStore()
    iv = ConformalInterval(0.9, 10.0, "absolute", rows=500)
    store.put("s3://m/cal.json", Calibrator("none", interval=iv).to_json().encode())
    champion = ModelVersion(
        dataset="prices",
        version=2,
        kind="linear",
        model_uri="s3://m/model.json",
        sha256="0",
        spec_uri="s3://m/f.json",
        reference_uri="s3://m/r.json",
        metadata_uri="s3://m/meta.json",
        threshold=0.0,
        calibration_uri="s3://m/cal.json",
        metrics={"rmse": 100.0, "coverage": 0.91},  # RMSE alone would never decay here
        run_id="r",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert served_interval(store, champion) == iv
    contract = parse_contract(CONTRACT % "")
    rng = np.random.default_rng(5)
    scores = rng.uniform(50, 150, 1000)
    at = ["2026-01-02T00:00:00+00:00"] * 1000
    table = pa.table({"_id": [str(i) for i in range(1000)], "_at": at, "_score": scores})
    now = datetime(2026, 2, 1, tzinfo=UTC)
    for noise, coverage, status in ((6.0, 0.9, "ok"), (15.0, 0.5, "decay")):
        labels = {str(i): float(s + rng.normal(0, noise)) for i, s in enumerate(scores)}
        out = decay_check(table, labels, champion, contract, now, served_interval(store, champion))
        assert abs(out["coverage"]["coverage"] - coverage) < 0.05, out
        assert out["status"] == out["window"] == out["coverage"]["window"] == status, out
        assert out["coverage"]["test_coverage"] == 0.91
    mail = decay_alert("prices", 2, out, "s3://lake/report.json")
    assert "interval coverage now" in mail.text and "vs declared 90%" in mail.text


def test_a_regression_candidate_without_an_interval_is_not_promoted():
    """Evaluate records ``interval: None`` for a candidate whose calibration file has none
    (trained before intervals existed): the coverage gate fails and says why."""
    d = decide_regression(
        "lightgbm",
        {"lightgbm": {"rmse": 5.0, "r2": 0.7, "interval": None}},
        Gates(),
        baseline={"name": "mean", "rmse": 10.0},
    )
    gate = next(g for g in d.gates if g.name == "interval_coverage")
    assert not d.promote and not gate.passed and "no prediction interval" in gate.detail
