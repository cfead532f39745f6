"""Monitoring that tells the truth, through the monitor's use case (check_dataset) with the
in-memory ports: no alarm on unchanged data, one steady state and one email for a steady
shift even near a threshold, missing values that do not inflate PSI, emails that say what
moved, and unused features reported but not alerted."""

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tabflow.adapters.memory import MemoryMailer, MemoryRegistry, MemoryStore
from tabflow.contract import Monitoring, parse_contract
from tabflow.drift import build_reference, check_window
from tabflow.features import Feature, FeatureSpec
from tabflow.monitoring.captures import window_columns
from tabflow.monitoring.check import check_dataset
from tabflow.monitoring.context import MonitorContext
from tabflow.ports import ModelVersion

PLANS = ("basic", "plus", "pro")
SPEC = FeatureSpec(
    (
        Feature("plan", "categorical", PLANS),
        Feature("income", "numeric"),
        Feature("colour", "categorical", ("red", "blue")),  # the model never uses it
    ),
    target="y",
    positive_label="1",
    negative_label="0",
)
CONTRACT = """
dataset: shop
target: {column: y, positive_label: "1"}
columns:
  y: {type: category, categories: ["1", "0"]}
  plan: {type: category, categories: [basic, plus, pro]}
  income: {type: float}
  colour: {type: category, categories: [red, blue]}
monitoring:
  min_rows: 50
"""
START = datetime(2026, 3, 1, 12, tzinfo=UTC)
N_REF = 20_000


def _rows(rng, n, *, shift=0.0, colour_shift=0.0, missing=0.0):
    plan = rng.choice(PLANS, n, p=[0.5 - shift, 0.3, 0.2 + shift])
    income = rng.normal(50.0, 10.0, n)
    income[rng.random(n) < missing] = np.nan
    colour = rng.choice(["red", "blue"], n, p=[0.5 - colour_shift, 0.5 + colour_shift])
    return {"plan": plan, "income": income, "colour": colour}


class World:
    """A champion with its spec and reference, and the monitor's ports, in memory."""

    def __init__(self, monitoring: str = "", seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.day = 0
        self.store, self.mailer, self.registry = MemoryStore(), MemoryMailer(), MemoryRegistry()
        self.contract = parse_contract(CONTRACT + monitoring)
        ref = _rows(self.rng, N_REF)
        x = SPEC.matrix({k: list(v) if v.dtype.kind != "f" else v for k, v in ref.items()})
        reference = build_reference(
            SPEC, x, self.rng.random(N_REF), importance={"plan": 0.7, "income": 0.3}
        )
        self.store.put("s3://models/shop/v1/spec.json", SPEC.to_json().encode())
        self.store.put("s3://models/shop/v1/reference.json", reference.to_json().encode())
        self.registry.put_version(
            ModelVersion(
                dataset="shop",
                version=1,
                kind="lightgbm",
                model_uri="s3://models/shop/v1/model.txt",
                sha256="0" * 64,
                spec_uri="s3://models/shop/v1/spec.json",
                reference_uri="s3://models/shop/v1/reference.json",
                metadata_uri="s3://models/shop/v1/metadata.json",
                threshold=0.5,
                run_id="r1",
                created_at=START - timedelta(days=1),
            )
        )
        self.registry.set_champion("shop", 1, expected=None)
        self.ctx = MonitorContext(
            self.registry, self.store, self.mailer, "lake", "raw", ["ops@example.com"]
        )

    def capture(self, day: datetime, rows: dict, scores=None) -> None:
        """One day of captured requests, as the API writes them (JSON lines)."""
        n = len(rows["plan"])
        frame = pd.DataFrame(rows).assign(
            _at=(day - timedelta(hours=1)).isoformat(),
            _request_id="r",
            _model_version=1,
            _score=self.rng.random(n) if scores is None else scores,
            _id=None,
        )
        uri = f"s3://lake/captures/shop/dt={day - timedelta(hours=1):%Y-%m-%d}/{day:%H%M%S}.jsonl"
        self.store.put(uri, frame.to_json(orient="records", lines=True).encode())

    def check(self, day: datetime) -> dict:
        return check_dataset("shop", self.contract, self.ctx, now=day)


def _days(world: World, days: int, n: int, **shift) -> list[dict]:
    """Daily checks, each of the day's captures (window_days 1)."""
    out = []
    for _ in range(days):
        day = START + timedelta(days=world.day)
        world.day += 1
        world.capture(day, _rows(world.rng, n, **shift))
        out.append(world.check(day))
    return out


def test_unchanged_windows_never_alarm():
    world = World()
    results = _days(world, 30, 5000)
    assert [r["status"] for r in results] == ["ok"] * 30
    assert world.mailer.sent == []
    assert all(not r["drift"]["moved_unused"] for r in results)


@pytest.mark.parametrize(
    "threshold, shift",
    [(0.05, 0.05), (0.05, 0.043)],  # exactly at the threshold; the 4.3 points under 5
)
def test_a_steady_shift_near_the_threshold_gives_one_steady_state_and_at_most_one_email(
    threshold, shift
):
    """Before: a feature alerted whenever a window's estimate crossed the threshold (about
    half of the days at the threshold, an email each). Now: at most one entry, one email."""
    world = World(f"  share_threshold: {threshold}\n")
    results = _days(world, 30, 5000, shift=shift)
    states = [("plan" in r["drifted"]) for r in results]
    transitions = sum(a != b for a, b in zip([False, *states], states, strict=False))
    assert transitions <= 1, states
    assert len(world.mailer.sent) <= 1


def test_a_clear_shift_emails_once_stays_then_clears_and_a_new_one_emails_again():
    world = World()
    shifted = _days(world, 10, 3000, shift=0.08)
    assert all("plan" in r["drifted"] for r in shifted)  # one steady state
    assert [r["alerting"]["drift"] for r in shifted] == [["plan"]] + [[]] * 9
    assert len(world.mailer.sent) == 1
    calm = _days(world, 3, 20_000)
    assert "plan" not in calm[-1]["drifted"]  # the upper bound fell under the threshold
    again = _days(world, 1, 3000, shift=0.08)
    assert again[0]["alerting"]["drift"] == ["plan"] and len(world.mailer.sent) == 2


def test_missing_values_do_not_inflate_psi_and_are_a_test_of_their_own():
    world = World()
    (result,) = _days(world, 1, 5000, missing=0.05)
    income = next(f for f in result["drift"]["features"] if f["feature"] == "income")
    assert income["psi"] < 0.01  # was about 0.32: a missing bin floored at 1e-4
    ks = next(t for t in income["tests"] if t["test"] == "ks")
    assert not ks["drifted"]
    missing = next(t for t in income["tests"] if t["test"] == "missing")
    assert missing["drifted"] and 0.04 < missing["effect"] < 0.06
    assert "percentage points" in income["how"] and "missing rate 0.0% ->" in income["how"]


def test_the_email_names_the_category_in_percentage_points_and_reports_unused_features():
    world = World()
    (result,) = _days(world, 1, 5000, shift=0.1, colour_shift=0.2)
    assert result["drifted"] == ["plan"] and result["drift"]["moved_unused"] == ["colour"]
    assert result["alerting"]["drift"] == ["plan"]
    ((email, _),) = world.mailer.sent
    assert "colour" not in email.subject
    plan = email.text.split("- plan: ")[1].splitlines()[0]
    assert re.search(r"'basic' [45]\d\.\d% -> 4\d\.\d% \(-\d+\.\d percentage points\)", plan), plan
    assert re.search(r"'pro' [12]\d\.\d% -> [23]\d\.\d% \(\+\d+\.\d percentage points\)", plan), (
        plan
    )
    assert "Also moved, but the model does not use them" in email.text
    assert "colour" in email.text.split("does not use them")[1]


def test_the_contract_can_ask_for_alerts_on_unused_features():
    world = World("  alert_on_unused_features: true\n")
    (result,) = _days(world, 1, 5000, colour_shift=0.2)
    assert result["alerting"]["drift"] == ["colour"]
    assert "'blue'" in world.mailer.sent[0][0].text


def test_window_columns_encode_like_the_serving_pipeline_on_messy_values():
    values = ["basic", None, "Basic", "", "pro", " plus", "plus", "gold"]
    table = pa.table(
        {
            "plan": pa.array(values, pa.string()),
            "income": pa.array([1.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
            "colour": pa.array(["red"] * 8),
        }
    )
    columns, unseen = window_columns(table, SPEC)
    expected = SPEC.serving_matrix(
        {"plan": values, "income": [1, None, 3, 4, 5, 6, 7, 8], "colour": ["red"] * 8}
    )
    np.testing.assert_array_equal(np.column_stack(columns[:2]), expected[:, :2])
    assert unseen["plan"].tolist() == [False, False, True, True, False, True, False, True]


def test_the_check_is_pure_when_called_without_state():
    rng = np.random.default_rng(3)
    ref = _rows(rng, N_REF)
    x = SPEC.matrix({k: list(v) if v.dtype.kind != "f" else v for k, v in ref.items()})
    reference = build_reference(SPEC, x, importance={"plan": 1.0})
    report = check_window(reference, SPEC, x[:3000], Monitoring())
    assert report.drifted == [] and all(c.active == [] for c in report.checks)
