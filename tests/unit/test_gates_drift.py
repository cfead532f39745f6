import numpy as np

from tabflow.contract import Gates
from tabflow.drift import ReferenceProfile, build_reference, compare, psi
from tabflow.features import Feature, FeatureSpec
from tabflow.gates import decide


def test_the_baseline_may_win_and_the_floor_is_applied():
    decision = decide({"lightgbm": {"auc": 0.80}, "linear": {"auc": 0.83}}, Gates(min_auc=0.82))
    assert decision.winner == "linear" and decision.promote
    gate = decision.gates[0]
    assert gate.name == "auc_floor" and gate.value == 0.83 and gate.threshold == 0.82


def test_a_winner_below_the_floor_is_not_promoted_and_the_gate_is_named():
    decision = decide({"lightgbm": {"auc": 0.61}, "linear": {"auc": 0.60}}, Gates(min_auc=0.7))
    assert not decision.promote and decision.failed == ["auc_floor"]
    assert decision.to_dict()["gates"][0]["passed"] is False


SPEC = FeatureSpec(
    (Feature("x", "numeric"), Feature("c", "categorical", ("a", "b", "c"))),
    target="y",
    positive_label="1",
    negative_label="0",
)


def sample(rng, n, shift=0.0, c_probs=(0.5, 0.3, 0.2)):
    x = rng.normal(shift, 1.0, n)
    c = rng.choice(3, size=n, p=c_probs).astype(float)
    return np.column_stack([x, c])


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(1)
    ref = build_reference(SPEC, sample(rng, 20000))
    same = compare(ref, sample(rng, 5000), threshold=0.2)
    assert all(d.psi < 0.02 and not d.drifted for d in same)
    moved = compare(ref, sample(rng, 5000, shift=1.0, c_probs=(0.1, 0.3, 0.6)), threshold=0.2)
    assert all(d.drifted for d in moved)


def test_missing_and_unseen_values_count_as_their_own_bin():
    rng = np.random.default_rng(2)
    ref = build_reference(SPEC, sample(rng, 5000))
    live = sample(rng, 2000)
    live[:600, 0] = np.nan
    live[:600, 1] = np.nan
    result = {d.feature: d for d in compare(ref, live, threshold=0.2)}
    assert result["x"].drifted and result["c"].drifted


def test_reference_round_trips_through_json():
    rng = np.random.default_rng(3)
    ref = build_reference(SPEC, sample(rng, 1000), scores=rng.random(1000))
    assert ReferenceProfile.from_json(ref.to_json()) == ref


def test_psi_of_identical_shares_is_zero():
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.5, 0.0])) == 0.0
