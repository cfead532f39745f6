"""A local API Gateway: HTTP requests on 127.0.0.1 -> REST API proxy events -> the handler.

What `sam local start-api` does with Docker, for the Api events of template.yaml."""

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from offline_aws.deploy import Route

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(f"^{regex}$")


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
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the handler logs
                pass

            def _handle(self) -> None:
                status, headers, body = gateway.handle(
                    self.command,
                    self.path,
                    dict(self.headers),
                    self._body(),
                    self.client_address[0],
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.rfile.read(length)
                    return None
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
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
        headers: dict[str, str],
        body: bytes | None,
        source_ip: str,
    ) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(raw_path)
        if body is None:
            return _json(413, {"message": "Request Too Long"})
        for route, pattern in self.routes:
            match = pattern.match(url.path)
            if not match:
                continue
            if route.method not in (method, "ANY"):
                continue
            if (
                route.api_key_required
                and headers.get("x-api-key", headers.get("X-Api-Key")) not in self.api_keys
            ):
                return _json(403, {"message": "Forbidden"})
            event = self._event(route, method, url, headers, body, match.groupdict(), source_ip)
            payload, errored = self.invoke(route.function, event)
            if errored or not isinstance(payload, dict) or "statusCode" not in payload:
                return _json(502, {"message": "Internal server error"})
            out = payload.get("body") or ""
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
        headers: dict[str, str],
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
        return {
            "resource": route.path,
            "path": url.path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
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
                "identity": {"sourceIp": source_ip, "apiKey": headers.get("x-api-key")},
                "accountId": "123456789012",
                "apiId": route.api,
            },
        }


def _json(status: int, doc: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()
