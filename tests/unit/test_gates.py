from tabflow.contract import Gates
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
