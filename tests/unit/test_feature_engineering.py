"""Derived features: one implementation for training and serving, and no leakage."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from tabflow.contract import parse_contract
from tabflow.features import FeatureSpec, date_part, entity_aggregates, to_datetime_array
from tabflow.serving.records import records_to_columns
from tabflow.training import build_feature_spec, frame_columns
from tests.conftest import ROOT

ORDERS = parse_contract((ROOT / "tests" / "data" / "orders.yaml").read_text())


def orders_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00")
    times = start + rng.integers(0, 90 * 24 * 60, n).astype("timedelta64[m]")
    amount = np.round(rng.gamma(2.0, 40.0, n), 2)
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "customer": [f"c{i}" for i in rng.integers(0, 40, n)],
            "ordered_at": pd.to_datetime(times),
            "amount": amount,
            "discount": rng.choice([0.0, 0.05, 0.1], n),
            "qty": pd.array(rng.integers(1, 5, n), dtype="Int64"),
            "channel": rng.choice(["web", "store", "phone"], n).astype(object),
            "email": [f"h{i}" for i in range(n)],
            "returned": np.where(amount + rng.normal(0, 30, n) > 100, "yes", "no").astype(object),
        }
    )


def test_date_parts_and_cyclical_encodings():
    ts = to_datetime_array(["2024-03-04T13:45:00Z", "2024-03-04T15:45:00+02:00", None])
    assert date_part(ts, "weekday")[:2].tolist() == [0.0, 0.0]  # a Monday
    assert date_part(ts, "hour")[:2].tolist() == [13.0, 13.0]  # the offset is read as UTC
    assert date_part(ts, "month")[0] == 3 and date_part(ts, "day")[0] == 4
    assert date_part(ts, "dayofyear")[0] == 64 and date_part(ts, "year")[0] == 2024
    assert date_part(ts, "sin_hour")[0] == pytest.approx(math.sin(2 * math.pi * 13 / 24))
    assert date_part(ts, "cos_month")[0] == pytest.approx(math.cos(2 * math.pi * 2 / 12))
    assert all(math.isnan(date_part(ts, op)[2]) for op in ("hour", "sin_weekday", "year"))


def test_entity_aggregates_use_strictly_earlier_rows_only():
    t = to_datetime_array(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-01"])
    entities = ["a", "a", "a", "a", "b"]
    values = np.array([10.0, 20.0, 30.0, 40.0, 5.0])
    (count, mean), state = entity_aggregates(entities, t, values, {})
    assert count.tolist() == [0, 1, 1, 3, 0]  # same-day rows do not see each other
    assert math.isnan(mean[0]) and mean[1] == mean[2] == 10.0 and mean[3] == 20.0
    assert state == {"a": [4, 4, 100.0], "b": [1, 1, 5.0]}
    shuffled = [3, 0, 4, 2, 1]
    (count2, mean2), _ = entity_aggregates(
        [entities[i] for i in shuffled], t[shuffled], values[shuffled], {}
    )
    assert count2.tolist() == count[shuffled].tolist()  # row order in the file does not matter


def test_future_rows_cannot_change_past_features():
    frame = orders_frame()
    spec = build_feature_spec(ORDERS, frame)
    full = spec.matrix(frame_columns(spec, frame))
    cut = frame["ordered_at"] < pd.Timestamp("2024-02-01")
    past_only = spec.matrix(frame_columns(spec, frame[cut]))
    np.testing.assert_array_equal(full[cut.to_numpy()], past_only)


def _as_api_records(frame: pd.DataFrame, spec: FeatureSpec) -> list[dict]:
    """The rows as an application sends them: a percent as the source writes it (10 for the
    0.1 ingest stored), like a JSON Lines file."""
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    percent = {f.name for f in spec.fields if f.value_rule().type == "percent"}
    return [
        {f.name: _as_sent(r.get(f.name), f.name in percent) for f in spec.fields} for r in records
    ]


def _as_sent(value, percent: bool):
    return value * 100 if percent and value is not None else value


def test_the_api_computes_the_same_features_as_training_for_the_same_rows():
    frame = orders_frame()
    spec = FeatureSpec.from_json(build_feature_spec(ORDERS, frame).to_json())  # as the API loads it
    offline = spec.matrix(frame_columns(spec, frame))
    online = spec.matrix(records_to_columns(spec, _as_api_records(frame, spec)))
    np.testing.assert_allclose(online, offline, rtol=0, atol=1e-9, equal_nan=True)
    assert {"order_hour_sin", "unit_price", "customer_mean_amount_before"} <= set(spec.names)
    assert "ordered_at" in [f.name for f in spec.inputs] and "customer" in [
        f.name for f in spec.inputs
    ]


def test_serving_continues_each_customer_history_from_training():
    frame = orders_frame()
    spec = build_feature_spec(ORDERS, frame)
    later = frame.iloc[:1].assign(ordered_at=pd.Timestamp("2025-01-01"), customer="c3")
    online = spec.serving_matrix(records_to_columns(spec, _as_api_records(later, spec)))
    appended = pd.concat([frame, later], ignore_index=True)
    offline = spec.matrix(frame_columns(spec, appended))[-1:]
    np.testing.assert_allclose(online, offline, atol=1e-9, equal_nan=True)
    j = spec.names.index("customer_orders_before")
    assert online[0, j] == (frame["customer"] == "c3").sum()
    unknown = spec.serving_matrix(
        records_to_columns(spec, _as_api_records(later.assign(customer="new"), spec))
    )
    assert unknown[0, j] == 0 and math.isnan(
        unknown[0, spec.names.index("customer_mean_amount_before")]
    )


def test_ratio_and_log_handle_zero_and_negative_inputs():
    frame = orders_frame(5)
    frame.loc[0, "amount"] = -3.0
    spec = build_feature_spec(ORDERS.model_copy(update={"derived": ORDERS.derived[3:5]}), frame)
    frame["qty"] = pd.array([0, 1, 2, 1, 1], dtype="Int64")
    x = spec.matrix(frame_columns(spec, frame))
    unit, log_amount = spec.names.index("unit_price"), spec.names.index("log_amount")
    assert math.isnan(x[0, unit]) and x[1, unit] == frame.loc[1, "amount"]
    assert math.isnan(x[0, log_amount]) and x[1, log_amount] == pytest.approx(
        np.log1p(frame.loc[1, "amount"])
    )
