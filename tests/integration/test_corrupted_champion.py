"""A corrupted champion (issue 12, item 4): every way a model version can be broken, met by a
cold start of the real predict handler on moto.

For each corruption of the newest version (the champion), three cold starts in a row (three
execution environments) must each answer predictions and the model card with 200 from the
newest older version that loads — the same score that version's run gives — with an
X-Model-Fallback header naming the problem, and exactly one email must go out for the
incident. When no version loads, the answer is a 503 naming every problem, never a 502/500.
Batch scoring falls back the same way or rejects the file with a report and an email, and
``registry rollback`` refuses a target that does not load."""

import copy
import email
import email.policy
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.features import FeatureSpec
from tabflow.ports import ModelVersion
from tabflow.serving.records import records_to_columns
from tests.integration.conftest import Context, api_event
from tests.integration.model_runs import Run, expected_score, fit_runs, materialize
from tests.integration.test_handlers import TELCO_RECORD, put

REGION = "us-east-1"
DATASET = "telco_churn"


@pytest.fixture(scope="module")
def fits(telco_csv, telco_contract_text):
    return fit_runs(3, telco_csv, telco_contract_text)  # 0, 2: LightGBM wins; 1: linear


@pytest.fixture
def w(aws, load_handler, fits):
    world = World(aws, load_handler, fits)
    yield world
    world.close()


def subjects() -> list[str]:
    out = []
    for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages:
        raw = getattr(m, "raw_data", None)
        subject = (
            email.message_from_string(raw, policy=email.policy.default)["Subject"]
            if raw
            else m.subject
        )
        out.append(str(subject))
    return out


def incident_mail() -> list[str]:
    return [s for s in subjects() if "failed to load" in s]


class World:
    """The deployed stack, the runs promoted so far and raw access to files and registry."""

    def __init__(self, aws: Any, load_handler: Any, fits: list) -> None:
        self.aws, self.load_handler, self.fits = aws, load_handler, fits
        self.s3 = boto3.client("s3", region_name=REGION)
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.table = aws.ref("RegistryTable")
        self.registry = DynamoRegistry(self.table, self.ddb)
        self.runs: dict[int, Run] = {}  # version -> run
        self._promote = load_handler("PromoteFunction").lambda_handler
        self._count = 0
        self.handlers: list[Any] = []

    def promote(self, kind: str) -> ModelVersion:
        fit = next(f for f in self.fits if f.winner == kind)
        self._count += 1
        (run,) = materialize([fit], self.aws, f"p{self._count}")
        out = self._promote(copy.deepcopy(run.state), Context())
        self.runs[out["version"]] = run
        return self.registry.get_version(DATASET, out["version"])

    # raw access, as a careless hand or a broken disk would change things
    def get(self, uri: str) -> bytes:
        b, _, k = uri[5:].partition("/")
        return self.s3.get_object(Bucket=b, Key=k)["Body"].read()

    def put(self, uri: str, data: bytes) -> None:
        b, _, k = uri[5:].partition("/")
        self.s3.put_object(Bucket=b, Key=k, Body=data)

    def delete(self, uri: str) -> None:
        b, _, k = uri[5:].partition("/")
        self.s3.delete_object(Bucket=b, Key=k)

    def rewrite(self, version: ModelVersion, **changes: Any) -> ModelVersion:
        """Overwrite the registry item of a version (a hand-edited or corrupted record)."""
        doc = version.model_copy(update=changes)
        self.ddb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": DATASET},
                "sk": {"S": f"v#{version.version:06d}"},
                "doc": {"S": doc.model_dump_json()},
            },
        )
        return doc

    # the API, from a new execution environment each time
    def cold_start(self) -> Any:
        handler = self.load_handler("PredictFunction")
        self.handlers.append(handler)
        return handler

    def close(self) -> None:
        for handler in self.handlers:  # captures leave on a thread: write them while moto runs
            handler.capture.flush()

    def predict(self, handler: Any) -> tuple[int, dict[str, str], dict]:
        resp = handler.lambda_handler(
            api_event(
                "POST",
                f"/v1/datasets/{DATASET}/predict",
                "/v1/datasets/{dataset}/predict",
                {"dataset": DATASET},
                json.dumps(TELCO_RECORD),
            ),
            Context(),
        )
        headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
        for k, values in (resp.get("multiValueHeaders") or {}).items():  # a REST API answer
            headers[k.lower()] = ", ".join(values)
        return resp["statusCode"], headers, json.loads(resp["body"])

    def card(self, handler: Any) -> tuple[int, dict]:
        resp = handler.lambda_handler(
            api_event(
                "GET",
                f"/v1/datasets/{DATASET}/model",
                "/v1/datasets/{dataset}/model",
                {"dataset": DATASET},
                None,
            ),
            Context(),
        )
        return resp["statusCode"], json.loads(resp["body"])

    def expected(self, version: int) -> float:
        run = self.runs[version]
        spec = FeatureSpec.from_json(run.files[run.spec_key])
        return expected_score(run, spec.serving_matrix(records_to_columns(spec, [TELCO_RECORD])))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _linear_doc(w: World, v: ModelVersion) -> dict:
    return json.loads(w.get(v.model_uri))


def _set_model(w: World, v: ModelVersion, data: bytes) -> None:
    """Replace the model file and make the registry agree (a version broken at the source)."""
    w.put(v.model_uri, data)
    w.rewrite(v, sha256=_sha(data))


def _nan_coefficients(w: World, v: ModelVersion) -> None:
    doc = _linear_doc(w, v)
    doc["numeric_coef"] = [float("nan")] * len(doc["numeric_coef"])
    _set_model(w, v, json.dumps(doc).encode())


def _wrong_widths(w: World, v: ModelVersion) -> None:
    doc = _linear_doc(w, v)
    doc["numeric_coef"] = doc["numeric_coef"][:-1]
    _set_model(w, v, json.dumps(doc).encode())


def _nan_calibrator(w: World, v: ModelVersion) -> None:
    data = json.dumps({"method": "platt", "a": float("nan"), "b": 0.0, "xs": [], "ys": []})
    w.put(v.calibration_uri, data.encode())
    w.rewrite(v, calibration_sha256=_sha(data.encode()))


def _elsewhere(w: World, v: ModelVersion, bucket: str, prefix: str) -> None:
    """The registry points at a copy of the same bytes outside the dataset's models."""
    uri = f"s3://{bucket}/{prefix}/model-copy"
    w.put(uri, w.get(v.model_uri))
    w.rewrite(v, model_uri=uri)


def _another_lightgbm(w: World, v: ModelVersion) -> None:
    other = w.fits[2] if w.runs[v.version].index == 0 else w.fits[0]
    w.put(v.model_uri, other.models["lightgbm"][1])  # valid LightGBM text, another model


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the champion's model kind the corruption needs
    corrupt: Callable[[World, ModelVersion], None]


CASES = [
    Case("model truncated", "lightgbm", lambda w, v: w.put(v.model_uri, w.get(v.model_uri)[:999])),
    Case("model empty", "lightgbm", lambda w, v: w.put(v.model_uri, b"")),
    Case(
        "model random bytes",
        "lightgbm",
        lambda w, v: w.put(v.model_uri, random.Random(1).randbytes(4096)),
    ),
    Case("registry sha256 wrong", "lightgbm", lambda w, v: w.rewrite(v, sha256="0" * 64)),
    Case("valid LightGBM text of another model", "lightgbm", _another_lightgbm),
    Case("model.json NaN coefficients (sha256 matches)", "linear", _nan_coefficients),
    Case("model.json wrong widths (sha256 matches)", "linear", _wrong_widths),
    Case("model.json not JSON (sha256 matches)", "linear", lambda w, v: _set_model(w, v, b"{")),
    Case("model object deleted", "lightgbm", lambda w, v: w.delete(v.model_uri)),
    Case("calibration file missing", "lightgbm", lambda w, v: w.delete(v.calibration_uri)),
    Case("calibration JSON corrupt", "linear", lambda w, v: w.put(v.calibration_uri, b"{oops")),
    Case(
        "calibration JSON corrupt, record without checksums",
        "lightgbm",
        lambda w, v: (
            w.put(v.calibration_uri, b'{"method": "platt"'),
            w.rewrite(v, calibration_sha256=None, spec_sha256=None),
        ),
    ),
    Case("calibrator NaN (sha256 matches)", "lightgbm", _nan_calibrator),
    Case("feature spec missing", "lightgbm", lambda w, v: w.delete(v.spec_uri)),
    Case("feature spec garbled", "linear", lambda w, v: w.put(v.spec_uri, b'{"features": [1')),
    Case(
        "feature spec garbled, record without checksums",
        "lightgbm",
        lambda w, v: (w.put(v.spec_uri, b"[]"), w.rewrite(v, spec_sha256=None)),
    ),
    Case(
        "registry URI to another bucket",
        "lightgbm",
        lambda w, v: _elsewhere(w, v, w.aws.ref("RawBucket"), "telco_churn"),
    ),
    Case(
        "registry URI to another dataset",
        "linear",
        lambda w, v: _elsewhere(w, v, w.aws.ref("ModelBucket"), "hotel_rates/runs/x"),
    ),
]


def _restore(w: World, v: ModelVersion, files: dict[str, bytes]) -> None:
    for uri, data in files.items():
        w.put(uri, data)
    w.rewrite(v)


def test_every_corruption_of_the_champion_falls_back_and_alerts_once(w):
    good = w.promote("lightgbm")
    assert good.version == 1
    results = []
    for case in CASES:
        fallback = w.registry.champion(DATASET)  # verified: the previous case restored it
        victim = w.promote(case.kind)
        files = {u: w.get(u) for u in (victim.model_uri, victim.spec_uri, victim.calibration_uri)}
        mails = len(incident_mail())
        case.corrupt(w, victim)
        seen = []
        for _ in range(3):  # three cold execution environments
            handler = w.cold_start()
            status, headers, body = w.predict(handler)
            card_status, card = w.card(handler)
            seen.append((status, card_status))
            assert status == 200 and card_status == 200, (case.name, status, body)
            assert body["model_version"] == fallback.version, case.name
            assert body["predictions"][0]["score"] == w.expected(fallback.version), case.name
            header = headers.get("x-model-fallback", "")
            assert f"champion v{victim.version} does not load" in header, (case.name, headers)
            assert card["version"] == fallback.version
            assert card["fallback"]["champion"] == victim.version
        new = incident_mail()[mails:]
        assert new == [
            f"[tabflow] {DATASET}: champion v{victim.version} failed to load; "
            f"v{fallback.version} keeps serving"
        ], (case.name, new)
        results.append((case.name, seen[0], header.split("(", 1)[-1][:90]))
        _restore(w, victim, files)
    print("\nCASES:")
    for name, status, why in results:
        print(f"  {name}: predict/model {status}, 1 email; {why}")


def test_when_no_version_loads_the_api_answers_503_naming_each_problem(w):
    v1 = w.promote("lightgbm")
    v2 = w.promote("linear")
    w.put(v1.model_uri, b"")
    w.delete(v2.spec_uri)
    for _ in range(3):
        handler = w.cold_start()
        status, headers, body = w.predict(handler)
        assert status == 503, body
        assert "no version of 'telco_churn' loads" in body["message"]
        problems = [e["problem"] for e in body["errors"]]
        assert problems[0].startswith("v2: file missing") and problems[1].startswith("v1: ")
        assert "sha256" in problems[1]
        assert headers.get("retry-after") == "60"
        card_status, card = w.card(handler)
        assert card_status == 503
    assert incident_mail() == [f"[tabflow] {DATASET}: champion v2 failed to load; no version loads"]


def test_a_warm_process_keeps_serving_when_the_new_champion_is_broken(w):
    w.promote("lightgbm")
    handler = w.cold_start()
    assert w.predict(handler)[0] == 200
    v2 = w.promote("linear")
    w.put(v2.model_uri, b"{}")
    handler.cache._ttl = 0  # the TTL has passed: the cache re-reads the registry
    for _ in range(2):
        status, headers, body = w.predict(handler)
        assert status == 200 and body["model_version"] == 1
        assert "champion v2 does not load" in headers["x-model-fallback"]
    assert len(incident_mail()) == 1
    w.put(v2.model_uri, w.runs[2].files[w.runs[2].model_key])  # repaired: v2 serves again
    status, headers, body = w.predict(handler)
    assert status == 200 and body["model_version"] == 2 and "x-model-fallback" not in headers
    assert body["predictions"][0]["score"] == w.expected(2)


def test_batch_scoring_falls_back_or_rejects_with_a_report(w, aws, load_handler, telco_csv):
    w.promote("lightgbm")
    v2 = w.promote("lightgbm")
    w.put(v2.model_uri, b"tree\ngarbage")
    batch = load_handler("BatchFunction")
    head = b"\n".join(telco_csv.splitlines()[:21]) + b"\n"
    raw = aws.ref("RawBucket")
    out = batch.lambda_handler(put(raw, "batch/telco_churn/a.csv", head), Context())
    (scored,) = out["files"]
    assert scored["status"] == "scored" and scored["model_version"] == 1
    assert scored["model_fallback"]["champion"] == 2
    report = json.loads(w.get(scored["report_uri"]))
    assert report["model_fallback"]["serving"] == 1
    assert len(incident_mail()) == 1
    # nothing loads: the file is rejected with a report and an email, the handler returns
    v1 = w.registry.get_version(DATASET, 1)
    w.delete(v1.model_uri)
    before = len(subjects())
    out = batch.lambda_handler(put(raw, "batch/telco_churn/b.csv", head), Context())
    (rejected,) = out["files"]
    assert rejected["status"] == "rejected"
    assert any("v1: file missing" in p for p in rejected["problems"])
    assert json.loads(w.get(rejected["report_uri"]))["status"] == "rejected"
    assert len(subjects()) == before + 1  # the rejection (the incident of v2 was already told)


def test_rollback_refuses_a_target_that_does_not_load(w, capsys):
    from tabflow.cli import registry_main

    v1 = w.promote("linear")
    w.promote("lightgbm")
    w.put(v1.calibration_uri, b"not json")
    assert registry_main(["--table", w.table, "rollback", DATASET, "1"]) == 1
    assert "refused, the target does not load" in capsys.readouterr().err
    assert w.registry.champion(DATASET).version == 2
    w.put(v1.calibration_uri, w.runs[1].files[w.runs[1].calibration_key])
    assert registry_main(["--table", w.table, "rollback", DATASET, "1"]) == 0
    assert w.registry.champion(DATASET).version == 1
