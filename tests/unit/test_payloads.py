"""The workflow's payload models (tabflow.workflow.payloads) against the two things they must
agree with: every JSONPath of the state machine (statemachines/training.asl.json) names a field
of the model of the state it reads or writes, and real payloads of a run (recorded from the task
handlers on Telco churn and, for a regression, from the tasks on hotel rates, both before the
models existed: tests/events/workflow) parse and dump back to the same JSON."""

import json
import re
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tabflow.workflow import payloads as p
from tests.conftest import ROOT

ASL = json.loads((ROOT / "statemachines" / "training.asl.json").read_text())
EVENTS = ROOT / "tests" / "events" / "workflow"

# The model of the input each state sees; every other state sees the run state.
INPUT_OF = {
    **dict.fromkeys(("TrialEngine", "Trial", "TrialJobResult", "TrialJob"), p.TrialInput),
    **dict.fromkeys(
        ("CandidateEngine", "TrainCandidate", "CandidateJobInput", "CandidateJob"),
        p.CandidateInput,
    ),
}
# The model of what a Task's (or a Map/Parallel item's) Parameters build: the task's input.
TASK_INPUT = {
    "${TrainFunctionArn}": p.CandidateInput,
    "${SelectFunctionArn}": p.SelectInput,
    "${NotifyFunctionArn}": p.NotifyInput,
}
PASS_BUILDS = {"CandidateJobInput": p.CandidateInput}
# The Map states: what their ItemSelector builds (the items' task input) and what the list
# they iterate over holds.
MAP_ITEMS = {"Tune": (p.TrialInput, p.TrialSpec), "Train": (p.CandidateInput, str)}
# The output each task state writes at its ResultPath.
OUTPUT_OF = {
    "Prepare": p.PrepareOutput,
    "Select": p.Selection,
    "Evaluate": p.Evaluation,
    "Promote": p.Promotion,
    "NotifyPromoted": p.NotifyOutput,
    "NotifyRejected": p.NotifyOutput,
    "NotifyFailure": p.NotifyOutput,
}
# Tasks that take the whole run state as input, and the model they parse it with.
WHOLE_STATE = {
    "${PrepareFunctionArn}": p.Run,
    "${EvaluateFunctionArn}": p.EvaluateInput,
    "${PromoteFunctionArn}": p.PromoteInput,
}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions and lists)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def resolve(model: type[BaseModel], path: str) -> Any:
    """The annotation a JSONPath ($.a.b[0].c) names in ``model``; fails naming the step."""
    assert path.startswith("$"), path
    steps = [s for s in re.split(r"\.|\[\d+\]", path[1:]) if s]
    annotation: Any = model
    for i, step in enumerate(steps):
        candidates = _models(annotation)
        fields = [m.model_fields[step] for m in candidates if step in m.model_fields]
        assert fields, f"{path}: {'.'.join(steps[: i + 1])} is no field of {candidates}"
        annotation = fields[0].annotation
    return annotation


def _paths(value: Any) -> list[str]:
    """The JSONPaths of a ``.$`` value: a path, or the paths inside an intrinsic function."""
    if value.startswith("$$"):  # the context object (the Map item): not the state
        return []
    if value.startswith("$"):
        return [value]
    return re.findall(r"(?<![\w$])\$(?:\.[A-Za-z_][\w]*)+", value)


def _states(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, state in states.items():
        out.append((name, state))
        for branch in state.get("Branches", []):
            out += _states(branch["States"])
        if "ItemProcessor" in state:
            out += _states(state["ItemProcessor"]["States"])
    return out


STATES = _states(ASL["States"])


def _check_parameters(params: dict[str, Any], built: type[BaseModel] | None, source: type):
    """Each key names a field of the model the Parameters build (when known), and each
    ``.$`` value is a path of the state the Parameters read."""
    for key, value in params.items():
        name = key.removesuffix(".$")
        if built is not None:
            assert name in built.model_fields, f"{key}: no field of {built.__name__}"
        if key.endswith(".$"):
            for path in _paths(value):
                resolve(source, path)
        elif isinstance(value, dict):
            inner = None
            if built is not None:
                inner = next(iter(_models(built.model_fields[name].annotation)), None)
            _check_parameters(value, inner, source)


def test_the_asl_has_the_states_this_test_maps():
    names = {n for n, _ in STATES}
    assert set(INPUT_OF) | set(PASS_BUILDS) | set(OUTPUT_OF) <= names
    resources = {s.get("Resource") for _, s in STATES}
    assert set(TASK_INPUT) | set(WHOLE_STATE) | {"${TrialFunctionArn}"} <= resources


@pytest.mark.parametrize("name", [n for n, _ in STATES])
def test_every_path_of_the_state_is_a_field_of_its_model(name):
    state = dict(STATES)[name]
    source = INPUT_OF.get(name, p.RunState)
    for key in ("InputPath", "OutputPath", "ItemsPath"):
        if state.get(key):
            resolve(source, state[key])
    if state.get("OutputPath"):  # a Batch job's output: the pointer to the result it wrote
        assert p.JobResult in _models(resolve(source, state["OutputPath"]))
    for choice in state.get("Choices", []):
        resolve(source, choice["Variable"])
    if state.get("ResultPath"):
        written = resolve(source, state["ResultPath"])
        if name in OUTPUT_OF:
            assert OUTPUT_OF[name] in _models(written), (name, written)
    if "ItemSelector" in state:  # the Map's items are its tasks' input
        built, item = MAP_ITEMS[name]
        _check_parameters(state["ItemSelector"], built, source)
        items = resolve(source, state["ItemsPath"])
        assert item in _models(items) or typing.get_args(items) == (item,), (name, items)
    if "Parameters" in state:
        built = PASS_BUILDS.get(name) or TASK_INPUT.get(state.get("Resource", ""))
        if state.get("Resource", "").startswith("arn:aws:states:::batch"):
            built = None  # the Batch API's own shape; its paths still read the state
        _check_parameters(state["Parameters"], built, source)


@pytest.mark.parametrize("resource", sorted(WHOLE_STATE))
def test_a_task_that_takes_the_whole_state_reads_fields_the_run_state_has(resource):
    model, state = WHOLE_STATE[resource], p.RunState.model_fields
    for field, info in model.model_fields.items():
        assert field in state, f"{model.__name__}.{field} is not in the run state"
        wanted = set(_models(info.annotation))
        assert wanted <= set(_models(state[field].annotation)), (field, wanted)


def _event(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


# Outputs are what the tasks put on the wire: their JSON must come back byte for byte (order
# included). Inputs are the run state as the ASL builds it: the same keys and values.
OUTPUTS = [
    ("run", p.Run),
    ("prepare_output", p.PrepareOutput),
    ("trial_output", p.TrialOutput),
    ("candidate_output_lightgbm", p.CandidateOutput),
    ("candidate_output_linear", p.CandidateOutput),
    ("selection_output", p.Selection),
    ("evaluation_output", p.Evaluation),
    ("promotion_output", p.Promotion),
    ("notify_output", p.NotifyOutput),
    # a regression (hotel rates, split in time): the seasonal baseline, RMSE, a row count
    ("regression_candidate_output_lightgbm", p.CandidateOutput),
    ("regression_selection_output", p.Selection),
    ("regression_evaluation_output", p.Evaluation),
]
INPUTS = [
    ("trial_input", p.TrialInput),
    ("candidate_input", p.CandidateInput),
    ("notify_input_promoted", p.NotifyInput),
]


@pytest.mark.parametrize(("name", "model"), OUTPUTS)
def test_a_real_output_round_trips_byte_for_byte(name, model):
    payload = _event(name)
    assert json.dumps(model.of(payload).dump()) == json.dumps(payload)


@pytest.mark.parametrize(("name", "model"), INPUTS)
def test_a_real_input_round_trips(name, model):
    payload = _event(name)
    assert model.of(payload).dump() == payload


@pytest.mark.parametrize("model", [p.RunState, p.Run, p.EvaluateInput, p.PromoteInput])
def test_the_final_run_state_parses_as_every_task_reads_it(model):
    state = _event("notify_input_promoted")["run"]
    assert model.of(state).dump() == state  # extra keys the ASL carries are kept


def test_the_start_payload_is_the_run_model_and_keeps_its_order():
    run = _event("run")
    assert json.dumps(p.start_payload(**run)) == json.dumps(run)
    retrain = p.start_payload(**run | {"trigger": "monitor", "labelled_rows_added": 0})
    assert list(retrain)[-2:] == ["trigger", "labelled_rows_added"]
    assert "trigger" not in p.start_payload(**run)


def test_a_batch_job_pointer_and_a_candidate_are_told_apart():
    lgbm = _event("candidate_output_lightgbm")
    results = p.SelectInput.of({"results": [lgbm, {"result_uri": "s3://m/x/jobs/linear.json"}]})
    assert [type(r) for r in results.results] == [p.CandidateOutput, p.JobResult]


@pytest.mark.parametrize(
    ("model", "payload", "named"),
    [
        (p.Selection, lambda: _event("selection_output") | {"chosen": None}, "chosen"),
        (p.Evaluation, lambda: _event("evaluation_output") | {"promote": "maybe"}, "promote"),
        (p.CandidateOutput, lambda: _event("candidate_output_linear") | {"extra": 1}, "extra"),
        (
            p.Run,
            lambda: {k: v for k, v in _event("run").items() if k != "curated_uri"},
            "curated_uri",
        ),
        (p.TrialInput, lambda: _event("trial_input") | {"trial": {"trial": 0}}, "params"),
    ],
)
def test_a_malformed_payload_is_refused_naming_the_field(model, payload, named):
    with pytest.raises(ValidationError, match=named):
        model.of(payload())


def test_a_failed_run_state_parses_for_the_failure_email():
    """What NotifyFailure gets when Train failed: the run so far, the Catch's error, the step."""
    run = _event("run") | {
        "prepare": _event("prepare_output"),
        "error": {"Error": "States.TaskFailed", "Cause": '{"errorMessage": "boom"}'},
        "failed_step": "Train",
    }
    parsed = p.NotifyInput.of({"kind": "failed", "run": run})
    assert parsed.run.error is not None and parsed.run.error.Error == "States.TaskFailed"
    assert (parsed.run.failed_step, parsed.run.evaluation) == ("Train", None)
    assert p.RunState.of(run).dump() == run
    # a start payload so broken that it has no ids still gets its failure email
    assert p.NotifyInput.of({"kind": "failed", "run": {}}).run.dataset == "?"
