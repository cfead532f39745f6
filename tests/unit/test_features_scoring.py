import math

import numpy as np
import pandas as pd
import pytest

from tabflow.features import Feature, FeatureSpec
from tabflow.models.base import load_model, score
from tabflow.models.linear import LinearModel, fit_linear
from tabflow.training import frame_columns

SPEC = FeatureSpec(
    (
        Feature("age", "numeric"),
        Feature("plan", "categorical", ("basic", "pro")),
        Feature("member", "numeric"),
    ),
    target="y",
    positive_label="yes",
    negative_label="no",
)


def test_the_same_rows_give_the_same_matrix_from_a_frame_and_from_json_records():
    frame = pd.DataFrame(
        {
            "age": pd.array([30, None, 45], dtype="Int64"),
            "plan": pd.Series(["pro", None, "basic"], dtype=object),
            "member": pd.array([True, False, None], dtype="boolean"),
        }
    )
    from_frame = SPEC.matrix(frame_columns(SPEC, frame))
    records = [
        {"age": 30, "plan": "pro", "member": True},
        {"age": None, "plan": None, "member": False},
        {"age": 45, "plan": "basic", "member": None},
    ]
    from_json = SPEC.matrix({f: [r[f] for r in records] for f in SPEC.names})
    np.testing.assert_array_equal(from_frame, from_json)
    assert from_json[0].tolist() == [30.0, 1.0, 1.0]
    assert math.isnan(from_json[1, 0]) and math.isnan(from_json[1, 1])


def test_unseen_categories_encode_as_missing():
    x = SPEC.matrix({"age": [1], "plan": ["platinum"], "member": [0]})
    assert math.isnan(x[0, 1])


def test_spec_round_trips_through_json():
    assert FeatureSpec.from_json(SPEC.to_json()) == SPEC
    assert SPEC.fingerprint() == FeatureSpec.from_json(SPEC.to_json()).fingerprint()


def test_linear_model_round_trips_and_explains_its_scores():
    rng = np.random.default_rng(0)
    n = 400
    age = rng.normal(40, 10, n)
    plan = rng.integers(0, 2, n).astype(float)
    member = rng.integers(0, 2, n).astype(float)
    x = np.column_stack([age, plan, member])
    y = ((age - 40) / 10 + plan * 1.5 + rng.normal(0, 1, n) > 0.7).astype(int)
    model = fit_linear(x, y, SPEC)
    again = LinearModel.from_json(model.to_json())
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=0, atol=1e-12)
    # contributions + intercept = the log-odds of the score
    logit = np.log(model.predict(x) / (1 - model.predict(x)))
    np.testing.assert_allclose(
        model.contributions(x).sum(axis=1) + model.intercept, logit, atol=1e-9
    )
    assert model.numeric_coef[0] > 0  # age pushes towards "yes"


def test_score_labels_at_the_threshold_and_names_top_features():
    model = load_model(
        "linear",
        LinearModel(
            means=(40.0, 0.5),
            scales=(10.0, 0.5),
            numeric_coef=(2.0, 0.0),
            onehot_coef=((0.0, 0.0),),
            intercept=0.0,
            numeric_idx=(0, 2),
            categorical_idx=(1,),
        ).to_json(),
    )
    x = SPEC.matrix({"age": [60, 20], "plan": ["pro", "basic"], "member": [1, 1]})
    scored = score(model, SPEC, x, threshold=0.5, top_k=1)
    assert scored.labels == ["yes", "no"]
    assert scored.top_features[0][0]["feature"] == "age"


def test_unknown_model_kind_is_refused():
    with pytest.raises(ValueError, match="unknown model kind"):
        load_model("pickle", b"...")
