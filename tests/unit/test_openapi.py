"""The OpenAPI document is valid, committed, and what the API serves."""

import json

from openapi_spec_validator import validate

from tabflow.openapi import document
from tests.conftest import ROOT

COMMITTED = ROOT / "functions" / "predict" / "openapi.json"


def test_the_document_is_valid_openapi():
    validate(document())


def test_the_committed_copy_is_current():
    assert json.loads(COMMITTED.read_text()) == json.loads(json.dumps(document())), (
        "regenerate: python -c 'import json; from tabflow.openapi import document; "
        "print(json.dumps(document(), indent=1, sort_keys=True))' > functions/predict/openapi.json"
    )


def test_every_template_route_is_documented():
    from offline_aws.template import load_template

    events = load_template(ROOT / "template.yaml")["Resources"]["PredictFunction"]["Properties"][
        "Events"
    ]
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    for event in events.values():
        props = event["Properties"]
        assert (props["Path"], props["Method"]) in documented
