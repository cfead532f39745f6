"""Every gate records its value, threshold and verdict; the rejection names the failures."""

from tabflow.contract import Gates
from tabflow.gates import decide

GOOD = {"auc": 0.85, "pr_auc": 0.6, "ece": 0.03}


def names(decision):
    return {g.name: g.passed for g in decision.gates}


def test_a_good_candidate_passes_every_gate():
    d = decide(
        "lightgbm",
        {"lightgbm": GOOD, "linear": {"auc": 0.84}},
        Gates(min_auc=0.8),
        champion={"version": 3, "comparable": True, "auc": 0.855, "pr_auc": 0.6},
    )
    assert d.promote and names(d) == {
        "auc_floor": True,
        "beats_baseline": True,
        "not_worse_than_champion": True,
        "calibration": True,
    }
    champion_gate = next(g for g in d.gates if g.name == "not_worse_than_champion")
    assert champion_gate.threshold == 0.845 and "v3" in champion_gate.detail


def test_each_gate_can_fail_on_its_own():
    cases = {
        "auc_floor": ("lightgbm", dict(GOOD, auc=0.6), {}),
        "beats_baseline": ("lightgbm", GOOD, {"linear": {"auc": 0.9}}),
        "not_worse_than_champion": (
            "lightgbm",
            GOOD,
            {"champion": {"version": 1, "comparable": True, "auc": 0.9}},
        ),
        "calibration": ("lightgbm", dict(GOOD, ece=0.2), {}),
    }
    for gate, (chosen, metrics, extra) in cases.items():
        candidates = {"lightgbm": metrics, "linear": extra.get("linear", {"auc": 0.5})}
        d = decide(chosen, candidates, Gates(min_auc=0.8), champion=extra.get("champion"))
        assert not d.promote and d.failed == [gate], gate


def test_the_baseline_may_be_the_champion_candidate():
    d = decide(
        "linear", {"lightgbm": {"auc": 0.80}, "linear": dict(GOOD, auc=0.83)}, Gates(min_auc=0.82)
    )
    assert d.winner == "linear" and d.promote and "beats_baseline" not in names(d)


def test_slice_parity_uses_groups_with_enough_rows():
    slices = {
        "senior_citizen": {
            "true": {"rows": 300, "positives": 90, "auc": 0.70},
            "false": {"rows": 1100, "positives": 280, "auc": 0.86},
        }
    }
    d = decide(
        "lightgbm",
        {"lightgbm": GOOD},
        Gates(min_auc=0.8, slices=["senior_citizen"], max_slice_gap=0.1),
        slices=slices,
    )
    gate = next(g for g in d.gates if g.name == "slice_parity:senior_citizen")
    assert not gate.passed and gate.value == 0.16 and "true: 0.700" in gate.detail
    thin = {
        "senior_citizen": {
            "true": {"rows": 20, "positives": 5, "auc": None},
            "false": slices["senior_citizen"]["false"],
        }
    }
    assert decide(
        "lightgbm", {"lightgbm": GOOD}, Gates(min_auc=0.8, slices=["senior_citizen"]), slices=thin
    ).promote


def test_an_incomparable_champion_does_not_block_but_is_explained():
    d = decide(
        "lightgbm",
        {"lightgbm": GOOD},
        Gates(min_auc=0.8),
        champion={
            "version": 2,
            "comparable": False,
            "reason": "its inputs ['x'] are not in this data",
        },
    )
    gate = next(g for g in d.gates if g.name == "not_worse_than_champion")
    assert d.promote and gate.passed and "not comparable" in gate.detail
