"""Invariant 4: the drift reference describes what is served. Each candidate's reference
profiles the scores the API returns (calibrated) and that model's own importance, and the
promoted version carries the winner's. Unchanged held-out rows, scored as the API scores them,
must never flag the score, whichever candidate serves (the bug: the reference held the raw
LightGBM scores while the API served calibrated ones, so every window raised a score alarm)."""

import json

import numpy as np
import pytest

from tabflow.contract import parse_contract
from tabflow.drift import ReferenceProfile, check_window
from tabflow.features import FeatureSpec
from tabflow.models.base import load_stored
from tabflow.training import frame_columns
from tests.unit.test_pipeline import World

WINDOW = 500


@pytest.fixture(scope="module")
def run(telco_csv, telco_contract_text):
    world = World(telco_contract_text)
    outcome = world.ingest(telco_csv)
    state = world.run_training(world.workflow.started[outcome.run_id])
    frame = world.tables.read_parquet(state.curated_uri)
    split = json.loads(world.store.get(state.train.split_uri))
    return world, state, frame, np.asarray(split["test_rows"])


@pytest.mark.parametrize("candidate", ["lightgbm", "linear"])
def test_unchanged_held_out_rows_never_flag_the_served_score(run, telco_contract_text, candidate):
    world, state, frame, test_rows = run
    chosen = state.train.candidates[candidate]
    spec = FeatureSpec.from_json(world.store.get(state.train.spec_uri))
    reference = ReferenceProfile.from_json(world.store.get(chosen.reference_uri))
    served = load_stored(world.store, candidate, chosen.model_uri, chosen.calibration_uri)
    x = spec.matrix(frame_columns(spec, frame.iloc[test_rows]))
    scores = served.predict(x)
    cfg = parse_contract(telco_contract_text).monitoring
    flagged = [
        check_window(
            reference, spec, x[i : i + WINDOW], cfg, scores=scores[i : i + WINDOW]
        ).score.moved
        for i in range(0, len(x) - WINDOW + 1, WINDOW)
    ]
    assert len(flagged) >= 2 and not any(flagged)


def test_each_reference_carries_its_own_model_s_importance(run):
    world, state, _, _ = run
    importances = {
        name: {
            f.name: f.importance
            for f in ReferenceProfile.from_json(world.store.get(c.reference_uri)).features
        }
        for name, c in state.train.candidates.items()
    }
    for imp in importances.values():
        assert abs(sum(imp.values()) - 1.0) < 1e-6
    assert importances["lightgbm"] != importances["linear"]


def test_the_promoted_version_serves_the_winner_s_reference(run):
    world, state, _, _ = run
    winner = state.evaluation.winner
    champion = world.registry.champion("telco_churn")
    assert champion is not None and champion.kind == winner
    promoted = world.store.get(champion.reference_uri)
    assert promoted == world.store.get(state.train.candidates[winner].reference_uri)
