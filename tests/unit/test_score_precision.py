"""The API answers and captures scores rounded to 6 digits; the reference holds the model's
unrounded scores. A calibrated score is often a step function (isotonic calibration), where
every value is a tie: compared as they are, 0.142857 captured against 0.14285714... in the
reference moves every step of the distribution (KS about 0.2 on unchanged data, seen with a
linear champion in the e2e). The monitor compares them at the precision served."""

from datetime import timedelta

import numpy as np

from tabflow.drift import build_reference
from tabflow.monitoring.captures import at_served_precision
from tests.unit.test_drift_truth import N_REF, SPEC, START, World, _rows

STEPS = np.array([1 / 7, 5 / 33, 19 / 49, 31 / 43, 5 / 6, 1.0])
SHARES = [0.25, 0.2, 0.2, 0.15, 0.1, 0.1]


def _world() -> tuple[World, np.random.Generator]:
    world = World(seed=3)
    rng = np.random.default_rng(4)
    ref = _rows(rng, N_REF)
    x = SPEC.matrix({k: list(v) if v.dtype.kind != "f" else v for k, v in ref.items()})
    scores = rng.choice(STEPS, N_REF, p=SHARES)  # as the calibrated model gives them
    reference = build_reference(SPEC, x, scores, importance={"plan": 0.7, "income": 0.3})
    world.store.put("s3://models/shop/v1/reference.json", reference.to_json().encode())
    return world, rng


def test_step_scores_as_served_do_not_drift_from_their_unrounded_reference():
    world, rng = _world()
    for d in range(3):
        day = START + timedelta(days=d)
        served = np.round(rng.choice(STEPS, 2000, p=SHARES), 6)  # what the API captures
        world.capture(day, _rows(rng, 2000), served)
        result = world.check(day)
        score = result["drift"]["score"]
        assert not score["moved"] and result["drifted"] == [], score
        assert score["psi"] < 0.01
    assert world.mailer.sent == []


def test_a_real_score_shift_still_shows():
    world, rng = _world()
    day = START
    shifted = np.round(rng.choice(STEPS, 2000, p=SHARES[::-1]), 6)
    world.capture(day, _rows(rng, 2000), shifted)
    assert "score" in world.check(day)["drifted"]


def test_bins_whose_edges_round_together_merge_into_the_bin_below():
    world, _ = _world()
    from dataclasses import replace

    from tabflow.drift import ReferenceProfile

    profile = ReferenceProfile.from_json(world.store.get("s3://models/shop/v1/reference.json"))
    base = replace(profile.score, edges=(0.1, 0.2000001, 0.2000002, 0.5), counts=(1, 2, 3, 4, 5))
    rounded = at_served_precision(base)
    assert rounded.edges == (0.1, 0.2, 0.5)
    assert rounded.counts == (1, 2 + 3, 4, 5)  # values in (0.2000001, 0.2000002] round to 0.2
    assert sum(rounded.counts) == sum(base.counts)
