"""Seasonal drift on real data: NYC flights, reference January-March, monitoring later months."""

import numpy as np
import pandas as pd
import pytest

from tabflow.contract import Monitoring
from tabflow.drift import build_reference, check_window
from tabflow.features import Feature, FeatureSpec
from tabflow.training import frame_columns
from tests.conftest import ROOT

DATA = ROOT.parent / "shared" / "data" / "flights_2013.csv.gz"
NUMERIC = ["dep_delay", "arr_delay", "air_time", "distance", "hour"]
CATEGORICAL = ["carrier", "origin"]


@pytest.fixture(scope="module")
def flights():
    if not DATA.exists():
        pytest.skip("shared/data/flights_2013.csv.gz is not present")
    return pd.read_csv(DATA, usecols=["month", *NUMERIC, *CATEGORICAL])


@pytest.fixture(scope="module")
def spec(flights):
    features = [Feature(n, "numeric") for n in NUMERIC]
    features += [
        Feature(c, "categorical", tuple(sorted(flights[c].dropna().unique()))) for c in CATEGORICAL
    ]
    return FeatureSpec(tuple(features), target="late", positive_label="1", negative_label="0")


def matrix(spec, frame):
    return spec.matrix(frame_columns(spec, frame))


def test_seasonal_drift_is_reported_with_the_features_that_moved(flights, spec):
    winter = flights[flights["month"] <= 3]
    reference = build_reference(spec, matrix(spec, winter.sample(frac=0.8, random_state=0)), seed=0)
    held_out = winter.drop(winter.sample(frac=0.8, random_state=0).index)  # ~4,800 rows
    quiet = check_window(reference, spec, matrix(spec, held_out), Monitoring())
    assert quiet.drifted == []

    summer = flights[flights["month"] == 7].sample(5000, random_state=2)
    report = check_window(reference, spec, matrix(spec, summer), Monitoring())
    moved = {c.feature: c.how for c in report.drifted}
    assert {"dep_delay", "arr_delay"} <= set(moved)  # summer storms: longer delays
    assert all(how for how in moved.values())
    later = {
        m: {
            c.feature
            for c in check_window(
                reference,
                spec,
                matrix(spec, flights[flights["month"] == m].sample(5000, random_state=m)),
                Monitoring(),
            ).drifted
        }
        for m in (6, 7, 8, 12)
    }
    assert all(later[m] for m in (6, 7, 8))
    print({m: sorted(v) for m, v in later.items()})
    assert np.isfinite([c.psi for c in report.features]).all()
