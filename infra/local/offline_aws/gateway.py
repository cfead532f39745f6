"""A local API Gateway: HTTP requests on 127.0.0.1 -> REST API proxy events -> the handler.

What `sam local start-api` does with Docker, for the Api events of template.yaml. As forgiving
and as strict as API Gateway where a client would notice: header names in any case, chunked
bodies, a 400 (not a dropped connection) for a body whose length cannot be known, 413 over
10 MB, 502 for a function's answer over Lambda's 6 MB, many clients at once."""

import base64
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from offline_aws.deploy import Route

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's response limit for a synchronous invocation


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(f"^{regex}$")


class BadFraming(Exception):
    """A request whose body cannot be delimited (bad Content-Length or chunk size)."""


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: 32 clients connecting at once overflow it and some
    # connections are dropped or reset. API Gateway takes them all.
    request_queue_size = 256
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away: nothing to answer
        super().handle_error(request, client_address)


class LocalGateway:
    def __init__(
        self,
        routes: list[Route],
        stages: dict[str, str],
        invoke: Callable[[str, dict[str, Any]], tuple[Any, bool]],
        port: int,
        api_keys: set[str] | None = None,
    ) -> None:
        self.routes = [(r, _pattern(r.path)) for r in routes]
        self.stages = stages
        self.invoke = invoke
        self.api_keys = api_keys or set()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
            timeout = 120  # an idle keep-alive connection (or a stalled body) is closed after

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the handler logs
                pass

            def _handle(self) -> None:
                try:
                    body = self._body()
                except BadFraming as exc:
                    # The body's end is unknown, so the connection cannot carry another request.
                    self.close_connection = True
                    self._send(*_json(400, {"message": str(exc)}))
                    return
                try:
                    status, headers, data = gateway.handle(
                        self.command,
                        self.path,
                        list(self.headers.items()),
                        body,
                        self.client_address[0],
                    )
                except Exception as exc:  # never drop a connection: answer as API Gateway does
                    sys.stderr.write(f"!! local API gateway: {exc!r}\n")
                    status, headers, data = _json(502, {"message": "Internal server error"})
                if body is None:
                    self.close_connection = True  # the body was not read whole
                self._send(status, headers, data)

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes | None:
                """The request body; None when over MAX_BODY (API Gateway's 413)."""
                coding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
                if coding:
                    if coding != "chunked":
                        raise BadFraming(f"Transfer-Encoding {coding!r} is not supported")
                    if "Content-Length" in self.headers:  # ambiguous framing: no reuse
                        self.close_connection = True
                    return self._chunked()
                lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
                if not lengths:
                    return b""
                if len(lengths) > 1:
                    raise BadFraming(f"conflicting Content-Length headers: {sorted(lengths)}")
                (value,) = lengths
                if not value.isascii() or not value.isdigit():
                    raise BadFraming(f"Content-Length must be a number of bytes, got {value!r}")
                length = int(value)
                if length > MAX_BODY:
                    # Read and drop a body of sane size, so that the client reads the 413
                    # instead of a reset; of a larger one, what has arrived.
                    if length <= 4 * MAX_BODY:
                        self._discard(length)
                    else:
                        self._drain_briefly()
                    return None
                return self._read(length)

            def _read(self, length: int) -> bytes:
                data = self.rfile.read(length)
                if len(data) < length:
                    raise BadFraming(f"the body ended after {len(data)} of {length} bytes")
                return data

            def _discard(self, length: int) -> None:
                while length > 0:
                    chunk = self.rfile.read(min(length, 1 << 16))
                    if not chunk:
                        raise BadFraming("the body ended early")
                    length -= len(chunk)

            def _drain_briefly(self) -> None:
                """Read what the client has sent already (closing a socket with unread data
                resets it, and the client may lose the answer)."""
                self.connection.settimeout(0.2)
                try:
                    for _ in range(256):
                        if not self.rfile.read1(1 << 16):
                            break
                except OSError:  # TimeoutError included: nothing more has arrived
                    pass

            def _chunked(self) -> bytes | None:
                parts: list[bytes] = []
                total = 0
                while True:
                    line = self.rfile.readline(1026)
                    size_text = line.split(b";", 1)[0].strip()
                    try:
                        size = int(size_text, 16)
                    except ValueError:
                        raise BadFraming(
                            f"bad chunk size {size_text[:20].decode('latin-1')!r}"
                        ) from None
                    if size < 0 or not line.endswith(b"\n"):
                        raise BadFraming(f"bad chunk size {size_text[:20].decode('latin-1')!r}")
                    if size == 0:
                        break
                    total += size
                    if total > MAX_BODY:
                        self._drain_briefly()
                        return None  # the connection closes after the 413
                    parts.append(self._read(size))
                    if self.rfile.readline(3).strip():
                        raise BadFraming("a chunk is longer than its size")
                while self.rfile.readline(65537).strip():  # trailer fields, then a blank line
                    pass
                return b"".join(parts)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str] | list[tuple[str, str]],
        body: bytes | None,
        source_ip: str,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request -> (status, headers, body). Header names are case-insensitive, as in
        HTTP and on API Gateway; the event keeps them as sent."""
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        url = urlsplit(raw_path)
        if body is None:
            return _json(413, {"message": "Request Too Long"})
        for route, pattern in self.routes:
            match = pattern.match(url.path)
            if not match:
                continue
            if route.method not in (method, "ANY"):
                continue
            if route.api_key_required and _header(pairs, "x-api-key") not in self.api_keys:
                return _json(403, {"message": "Forbidden"})
            event = self._event(route, method, url, pairs, body, match.groupdict(), source_ip)
            payload, errored = self.invoke(route.function, event)
            if errored or not isinstance(payload, dict) or "statusCode" not in payload:
                return _json(502, {"message": "Internal server error"})
            out = payload.get("body") or ""
            if len(out) > MAX_RESPONSE:  # Lambda refuses a larger response; API Gateway: 502
                return _json(502, {"message": "Internal server error"})
            data = base64.b64decode(out) if payload.get("isBase64Encoded") else out.encode()
            hdrs = {k: str(v) for k, v in (payload.get("headers") or {}).items()}
            for k, values in (payload.get("multiValueHeaders") or {}).items():
                hdrs[k] = ", ".join(str(v) for v in values)
            return int(payload["statusCode"]), hdrs, data
        known = any(p.match(url.path) for _, p in self.routes)
        if known:
            return _json(405, {"message": f"Method {method} not allowed"})
        return _json(403, {"message": "Missing Authentication Token"})  # what API Gateway says

    def _event(
        self,
        route: Route,
        method: str,
        url: Any,
        pairs: list[tuple[str, str]],
        body: bytes,
        path_params: dict[str, str],
        source_ip: str,
    ) -> dict[str, Any]:
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            text, is_b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
        request_id = str(uuid.uuid4())
        stage = self.stages.get(route.api, "Prod")
        headers: dict[str, str] = {}  # the last value of each header, as API Gateway does
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            headers[name] = value
            multi.setdefault(name, []).append(value)
        return {
            "resource": route.path,
            "path": url.path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "body": text if body else None,
            "isBase64Encoded": is_b64,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/{stage}{url.path}",
                "stage": stage,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": source_ip, "apiKey": _header(pairs, "x-api-key")},
                "accountId": "123456789012",
                "apiId": route.api,
            },
        }


def _header(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The last value of a header, whatever the case of its name."""
    found = None
    for key, value in pairs:
        if key.lower() == name:
            found = value
    return found


def _json(status: int, doc: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()
