"""The offline stack is as forgiving, and as strict, as AWS where a client or an S3 event
would notice: the local API gateway's HTTP handling (header case, chunked bodies, bad
Content-Length, many clients at once) and Lambda's handling of a failed asynchronous
invocation (retries, then the dead-letter queue)."""

import base64
import gzip
import json
import socket
import threading
import time
from urllib.parse import unquote_plus

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_hostile_bodies import HOSTILE

pytestmark = pytest.mark.e2e


def _raw(stack, request: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; read one response (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of the answer"
            body += chunk
    return int(lines[0].split()[1]), headers, body


def test_api_key_header_names_are_case_insensitive(stack):
    url = f"{stack.api_url}/v1/datasets/no_such_dataset/model"
    assert requests.get(url, timeout=30).status_code == 403
    for name in ("x-api-key", "X-API-KEY", "X-Api-Key", "x-API-key"):
        response = requests.get(url, headers={name: stack.api_key}, timeout=30)
        # past the key check: the function answers (no champion for this dataset)
        assert response.status_code == 404, (name, response.text)
        assert "no_such_dataset" in response.json()["message"]
    assert requests.get(url, headers={"X-API-KEY": "wrong"}, timeout=30).status_code == 403


def test_a_chunked_body_reaches_the_function(stack):
    key = stack.api_key.encode()
    body = b'{"records": [{"tenure": 1, "tenure": 2}]}'  # the function names the duplicate key
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:20], body[20:])
    )
    status, _, answer = _raw(
        stack,
        b"POST /v1/datasets/no_such_dataset/predict HTTP/1.1\r\nHost: x\r\n"
        b"x-api-key: " + key + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
    )
    assert status == 400 and 'duplicate key \\"tenure\\"' in answer.decode(), answer
    # requests sends a generator as a chunked body
    response = requests.post(
        f"{stack.api_url}/v1/datasets/no_such_dataset/predict",
        data=(part for part in (b'{"records": ', b'[{"tenure": 1}]', b"}")),
        headers={"x-api-key": stack.api_key},
        timeout=30,
    )
    assert response.status_code == 404, response.text  # read whole: the model lookup came next


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1.5", b"", b"0x10", b"99999999999999999999"])
def test_a_bad_content_length_gets_a_400_not_a_dropped_connection(stack, length):
    start = time.monotonic()
    status, headers, answer = _raw(
        stack,
        b"POST /v1/datasets/x/predict HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + length
        + b"\r\n\r\n{}",
    )
    if length == b"99999999999999999999":  # a number, but over API Gateway's 10 MB
        assert status == 413
    else:
        assert status == 400 and "Content-Length" in json.loads(answer)["message"]
    assert headers.get("connection") == "close" and time.monotonic() - start < 5


def test_bad_chunk_framing_gets_a_400(stack):
    for chunks in (b"zz\r\nabc\r\n0\r\n\r\n", b"-5\r\nabc\r\n0\r\n\r\n", b"2\r\nabcdef\r\n"):
        status, _, answer = _raw(
            stack,
            b"POST /v1/datasets/x/predict HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks,
        )
        assert status == 400 and json.loads(answer)["message"], chunks


def test_32_concurrent_clients_get_every_answer_at_once(stack):
    """32 clients, 50 requests each: half open a new connection per request (the listen
    backlog's test), half keep one connection alive. No error, no reset, and no connection
    waits for a dropped SYN to be sent again (1 s on Linux; on macOS the overflow of a full
    backlog is a reset). One request in ten goes through the function, the others are
    answered by the gateway itself (403, no key)."""
    health = f"{stack.api_url}/health"
    assert requests.get(health, timeout=60).status_code == 200  # the function is warm
    statuses: dict[int, int] = {}
    failures: list[str] = []
    slow_connects: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(32)

    def fresh_connection(path: str) -> int:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", stack.api_port), timeout=60) as sock:
            connected = time.monotonic() - start
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        if connected >= 0.9:
            with lock:
                slow_connects.append(round(connected, 2))
        return int(answer.split(b" ", 2)[1])

    def client(i: int) -> None:
        session = requests.Session() if i % 2 else None
        barrier.wait()
        for n in range(50):
            path = "/health" if n % 10 == 0 else "/v1/datasets/x/model"
            try:
                if session:
                    status = session.get(f"{stack.api_url}{path}", timeout=60).status_code
                else:
                    status = fresh_connection(path)
            except (OSError, requests.RequestException, IndexError, ValueError) as exc:
                with lock:
                    failures.append(repr(exc))
                continue
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert failures == [], failures[:3]
    assert statuses == {200: 160, 403: 1440}, statuses
    assert slow_connects == [], f"{len(slow_connects)} connections waited: {slow_connects[:5]}"
    print(f"1600 requests from 32 clients in {elapsed:.1f} s")


def test_a_failed_s3_triggered_ingest_is_retried_then_lands_in_the_dead_letter_queue(stack):
    """A file version deleted after its upload, before ingest read it: the S3 notification's
    invocation fails. As on AWS it is tried three times (MaximumRetryAttempts 2), then the
    event goes to the function's DeadLetterQueue (FailedEventsQueue in template.yaml)."""
    sqs = stack.client("sqs")
    queue = sqs.get_queue_url(QueueName=stack.ref("FailedEventsQueue").rsplit("/", 1)[1])
    s3, bucket = stack.client("s3"), stack.ref("RawBucket")
    key = f"incoming/telco_churn/deleted-{time.time_ns()}.csv"
    before = len(stack.runtime.errors)
    delay, stack.async_retry_delay = stack.async_retry_delay, 0.05
    # Hold the asynchronous invocations while the file comes and goes (on AWS they start
    # a little later too), so that ingest finds it gone.
    hold = threading.Event()
    blockers = [stack._async.submit(hold.wait) for _ in range(stack._async._max_workers)]
    try:
        put = s3.put_object(Bucket=bucket, Key=key, Body=b"customer_id,churn\nC1,No\n")
        # the version itself, not only a delete marker: ingest reads the event's version
        s3.delete_object(Bucket=bucket, Key=key, VersionId=put["VersionId"])
    finally:
        hold.set()
        for blocker in blockers:
            blocker.result()
    try:
        stack.wait_idle()
    finally:
        stack.async_retry_delay = delay
    failures = [e for e in stack.runtime.errors[before:] if e["function"] == "IngestFunction"]
    # The failures were this test's doing: take them off the shared stack's record, which
    # later tests check is empty.
    del stack.runtime.errors[before:]
    assert len(failures) == 3, failures
    assert len({f["request_id"] for f in failures}) == 1  # one invocation, three attempts
    assert all(f["errorType"] == "ObjectNotFound" for f in failures)
    messages = sqs.receive_message(
        QueueUrl=queue["QueueUrl"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=1,
    ).get("Messages", [])
    name = key.rsplit("/", 1)[1]
    (message,) = [m for m in messages if name in m["Body"]]
    event = json.loads(message["Body"])  # the S3 event itself, as Lambda sends it
    assert unquote_plus(event["Records"][0]["s3"]["object"]["key"]) == key  # encoded, as on AWS
    assert event["Records"][0]["s3"]["bucket"]["name"] == bucket
    attributes = message["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == failures[0]["request_id"]
    assert name in attributes["ErrorMessage"]["StringValue"]


def test_the_template_s_failure_handling_reaches_the_functions(stack):
    """Both S3-triggered functions have the template's DeadLetterQueue and Lambda's default
    of two retries."""
    dlq = stack.deployment.resolver.attrs[("FailedEventsQueue", "Arn")]
    for logical in ("IngestFunction", "BatchFunction"):
        spec = stack.deployment.function_by_logical(logical)
        assert (spec.dead_letter_arn, spec.max_retry_attempts) == (dlq, 2), logical


# Hostile bodies as bytes on the wire: the unit cases, and generated shapes of their kind.
def _wire(body: str | None, is_b64: bool) -> bytes:
    """A proxy event's body as the bytes a client sent (a body flagged base64 that is not
    base64 cannot come from the gateway: it is sent as the text it is)."""
    text = body or ""
    if is_b64:
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            pass
    return text.encode("utf-8", "surrogatepass")


_WIRE_CASES = [(_wire(body, is_b64), headers) for _, body, is_b64, headers, _, _ in HOSTILE]
_RECORD = '{"tenure": 2, "contract": "Month-to-month", "monthly_charges": 95.5}'
generated = st.one_of(
    st.integers(65, 30_000).map(lambda n: "[" * n + "]" * n),
    st.integers(65, 30_000).map(lambda n: '{"records": [' + '{"a": ' * n),
    st.integers(301, 6_000).map(lambda n: _RECORD.replace("2,", "9" * n + ",")),
    st.sampled_from(["1e999", "-1e400", "NaN", "-Infinity"]).map(
        lambda v: _RECORD.replace("95.5", v)
    ),
    st.sampled_from(['"\\ud800"', '"\\udbff"']).map(
        lambda v: _RECORD.replace('"Month-to-month"', v)
    ),
    st.just('{"tenure": 1, ' + _RECORD[1:]),
    st.binary(min_size=1, max_size=64).map(lambda b: b"\xff" + b),  # never UTF-8
)
hostile_requests = st.one_of(
    st.sampled_from(_WIRE_CASES),
    generated.map(lambda body: (body if isinstance(body, bytes) else body.encode(), {})),
)


def _on_the_wire(body: bytes, transport: str) -> tuple[object, dict[str, str]]:
    if transport == "gzip":
        return gzip.compress(body), {"Content-Encoding": "gzip"}
    if transport == "utf-16":
        return body.decode("utf-8", "replace").encode("utf-16"), {}
    if transport == "bom":
        return b"\xef\xbb\xbf" + body, {}
    if transport == "chunked":  # requests sends a generator as a chunked body
        return (body[i : i + 4096] for i in range(0, len(body), 4096)), {}
    return body, {}


def test_hostile_bodies_through_the_gateway_get_a_declared_4xx(stack):
    """The document's fuzz (test_pipeline_e2e) sends what the schema describes; this sends
    what it does not: hostile bodies, in several encodings and framings, through the local
    gateway, to the served dataset and to an unknown one. Every answer is a 4xx that the
    served document declares, with a JSON message."""
    document = requests.get(f"{stack.api_url}/openapi.json", timeout=30).json()
    declared = set(document["paths"]["/v1/datasets/{dataset}/predict"]["post"]["responses"])
    key = {"x-api-key": stack.api_key}

    @settings(
        max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        hostile_requests,
        st.sampled_from(["plain", "chunked", "gzip", "utf-16", "bom"]),
        st.sampled_from(["telco_churn", "no_such_dataset"]),
    )
    def send(hostile, transport, dataset):
        body, case_headers = hostile
        data, headers = _on_the_wire(body, transport)
        response = requests.post(
            f"{stack.api_url}/v1/datasets/{dataset}/predict",
            data=data,
            headers={**key, **case_headers, **headers},
            timeout=60,
        )
        assert 400 <= response.status_code < 500, (body[:100], transport, response.text[:300])
        assert str(response.status_code) in declared, response.status_code
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["message"]

    send()
