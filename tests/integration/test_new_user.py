"""The new-user check on Telco (issue 11), through the real handlers under moto: a messy
export, `contract infer` with only --target, --positive and --id and no hand edit, the run
the state machine makes, then the held-out 20% sent to the predict handler exactly as the
source spells them. bench/new_user.py runs the same check on every shared dataset."""

from bench.new_user import CASES, run_case


def test_a_new_user_gets_a_correct_model_that_serves_the_records_they_send():
    figures = run_case(CASES["telco_churn"])
    assert figures["promoted"], figures
    assert (
        figures["curated"] + figures["quarantined"] + figures["duplicates"]
        == figures["export_rows"]
    ), figures  # every row of the export accounted for
    assert figures["accepted_share"] >= 0.99, figures
    assert figures["auc"] >= figures["untuned_lightgbm_auc"] - 0.02, figures
    assert abs(figures["mean_score"] / figures["positive_rate"] - 1) <= 0.3, figures
