"""The multiclass figures of the new-user check (bench/new_user.py) score the served class
probabilities against the held-out rows' true classes as a user would read them: a class
spelled in another case or padded is the same class, a class merged into ``other`` at
training counts as ``other``, and a row whose class the model cannot know is left out and
counted rather than silently scored as a miss. The multiclass export spells the target's
classes in several ways, so `contract infer` has variants to fold."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from bench.new_user import CASES, messy_export, multiclass_figures
from tabflow.readers import read_table


def test_served_probabilities_are_scored_against_the_held_out_classes():
    spec = SimpleNamespace(classes=("AA", "UA", "other"), merged=("HA", "OO"))
    truth = np.array(["AA", " ua", "UA", "HA", "OO", "ZZ", "aa"])
    served = {
        0: {"AA": 0.8, "UA": 0.1, "other": 0.1},
        1: {"AA": 0.1, "UA": 0.8, "other": 0.1},
        2: {"AA": 0.3, "UA": 0.6, "other": 0.1},
        3: {"AA": 0.1, "UA": 0.2, "other": 0.7},
        4: {"AA": 0.5, "UA": 0.1, "other": 0.4},
        5: {"AA": 0.2, "UA": 0.2, "other": 0.6},
        6: {"AA": 0.6, "UA": 0.3, "other": 0.1},
    }
    reference = np.array([[1 / 3] * 3] * 7)
    figures = multiclass_figures(spec, truth, served, list(range(7)), reference)
    assert figures["held_out_unknown_class"] == 1  # ZZ: not a class of the model
    assert figures["held_out_share"] == {"AA": 0.3333, "UA": 0.3333, "other": 0.3333}
    assert figures["recall"] == {"AA": 1.0, "UA": 1.0, "other": 0.5}
    assert figures["accuracy"] == round(5 / 6, 4)
    assert figures["untuned_lightgbm_macro_auc"] == 0.5
    assert figures["untuned_lightgbm_log_loss"] == round(np.log(3), 4)
    assert figures["mean_probability"]["AA"] == round((0.8 + 0.1 + 0.3 + 0.1 + 0.5 + 0.6) / 6, 4)


def test_the_multiclass_export_spells_each_class_in_several_ways():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "flight_id": [f"F{i:05d}" for i in range(2000)],
            "origin": rng.choice(["EWR", "JFK", "LGA"], 2000),
            "dest": rng.choice(["ORD", "ATL"], 2000),
            "distance": rng.integers(100, 2000, 2000).astype(str),
            "sched_arr_time": rng.integers(600, 2300, 2000).astype(str),
            "carrier": rng.choice(["UA", "B6", "EV"], 2000),
        }
    )
    table = read_table(messy_export(frame, CASES["flights_carrier"], seed=1), name="e.csv")
    spelled = table.frame["Carrier"].astype(str)
    assert {" ua", "UA ", "Ua", "UA", " b6", "B6 ", "B6"} <= set(spelled)  # padding kept
    assert (spelled == "UA").sum() > 0.8 * (spelled.str.strip().str.upper() == "UA").sum()
    assert set(spelled.str.strip().str.upper()) == {"UA", "B6", "EV"}
