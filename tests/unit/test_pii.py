"""tabflow.pii: one keyed hash for every path, no unsalted fallback, reports without values."""

import hashlib
import hmac

import pyarrow as pa
import pytest

from tabflow import pii
from tabflow.adapters.memory import MemoryRegistry, MemoryStore
from tabflow.errors import PiiSaltUnavailable
from tabflow.validation import hash_values


def expected(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_a_value_hashes_to_hmac_sha256_keyed_by_the_salt_and_missing_stays_missing():
    assert pii.hash_value("C000001", "s3cret") == expected("s3cret", "C000001")
    assert pii.hash_value("C000001", "s3cret") != hashlib.sha256(b"C000001").hexdigest()
    assert pii.hash_value("C000001", "s3cret") != pii.hash_value("C000001", "other")
    assert pii.hash_value(None, "s3cret") is None
    # The text ingest hashes (trimmed), the API's and a label file's agree.
    assert pii.hash_value("  a@b.com ", "k") == pii.hash_value("a@b.com", "k")
    assert pii.hash_value(42, "k") == expected("k", "42")
    assert hash_values(pa.array(["a@b.com", None]), "k").to_pylist() == [
        expected("k", "a@b.com"),
        None,
    ]


@pytest.mark.parametrize("salt", ["", None])
def test_no_path_hashes_with_an_empty_salt(salt):
    with pytest.raises(PiiSaltUnavailable, match="empty salt"):
        pii.hash_value("a@b.com", salt)
    with pytest.raises(PiiSaltUnavailable):
        hash_values(pa.array(["a@b.com"]), salt)  # ingest and batch scoring
    with pytest.raises(PiiSaltUnavailable):
        pii.hash_record_fields([{"customer": "x"}], ["customer"], salt)  # the API
    with pytest.raises(PiiSaltUnavailable):
        pii.hash_keys({"C1": True}, salt)  # the monitor's labels


def test_api_records_are_hashed_in_copies_and_non_scalars_are_left_to_validation():
    records = [{"customer": "a@b.com", "x": 1}, {"customer": ["a"]}, {"customer": True}, "no"]
    out = pii.hash_record_fields(records, ["customer"], "k")
    assert out[0] == {"customer": expected("k", "a@b.com"), "x": 1}
    assert records[0]["customer"] == "a@b.com"  # the caller's record is unchanged
    assert out[1:] == records[1:]


def test_report_summaries_of_pii_columns_keep_reasons_not_values():
    summaries = {
        "email": {
            "missing": 0,
            "invalid": 1,
            "invalid_examples": [{"value": "bob@x.org", "reason": "r"}],
            "top_values": {"bob@x.org": 3},
            "distinct": 1,
        },
        "qty": {"missing": 0, "invalid": 1, "invalid_examples": [{"value": "x", "reason": "r"}]},
    }
    out = pii.redact_summaries(summaries, {"email": "hash"})
    assert out["email"] == {
        "missing": 0,
        "invalid": 1,
        "invalid_examples": [{"value": pii.REDACTED, "reason": "r"}],
        "pii": "hash",
    }
    assert out["qty"] == summaries["qty"]
    assert "bob@x.org" in str(summaries)  # the input is not modified


def test_label_ids_are_keyed_like_the_captured_ids():
    assert pii.label_ids({"C1": True}, None, None) == {"C1": True}
    assert pii.label_ids({"C1": True}, "hash", lambda: "k") == {expected("k", "C1"): True}
    with pytest.raises(PiiSaltUnavailable):
        pii.label_ids({"C1": True}, "hash", None)


def test_the_feature_spec_carries_the_policy_and_the_predictor_needs_the_salt_for_it():
    from tabflow.features import Feature, FeatureSpec
    from tabflow.serving.cache import Champion, ChampionCache
    from tabflow.serving.predictor import Predictor

    plain = FeatureSpec((Feature("x", "numeric"),), "y", "1", "0", id_column="email")
    spec = FeatureSpec.from_json(
        plain.to_json().replace('"version"', '"pii": {"email": "hash"}, "version"', 1)
    )
    assert spec.pii == {"email": "hash"} and FeatureSpec.from_json(spec.to_json()) == spec
    assert '"pii"' not in plain.to_json()  # a spec without PII: the same bytes as before

    class Cache(ChampionCache):
        def get(self, dataset):
            return Champion(version=None, model=None, spec=spec, checked_at=0.0)  # type: ignore[arg-type]

    predictor = Predictor(
        Cache(MemoryRegistry(), MemoryStore(), ttl=1), MemoryStore(), lake_bucket="l", max_records=5
    )
    with pytest.raises(PiiSaltUnavailable):  # a 503 at the API, never a raw capture
        predictor.predict("d", [{"x": 1.0, "email": "a@b.com"}], "r")
