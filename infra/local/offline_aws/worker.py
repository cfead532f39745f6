"""One Lambda execution environment: a process that imports a handler once (the cold start)
and then serves invocations, one at a time, read as JSON lines on stdin.

Responses go out on a private copy of the original stdout; the handler's own prints and
logs go to stderr, which the runtime collects (as CloudWatch Logs would)."""

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.invoked_function_arn = request.get("function_arn", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(request.get("timeout", 900))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def main() -> None:
    code_dir, handler = sys.argv[1], sys.argv[2]
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the handler prints goes to the log stream
    sys.stdout = sys.stderr
    sys.path.insert(0, code_dir)  # the Lambda task root, as the real runtime does
    module_name, func_name = handler.rsplit(".", 1)
    started = time.perf_counter()
    init_error = None
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # reported on every invocation, as Lambda does
        init_error = _error(exc, "Runtime.ImportModuleError")
        traceback.print_exc()
    print(
        json.dumps({"ready": True, "init_seconds": round(time.perf_counter() - started, 3)}),
        file=replies,
    )
    for line in sys.stdin:
        request = json.loads(line)
        if init_error:
            reply = init_error
        else:
            try:
                result = func(request["event"], Context(request))
                reply = {"ok": True, "result": result}
            except Exception as exc:
                traceback.print_exc()
                reply = _error(exc)
        print(json.dumps(reply, default=str), file=replies)


if __name__ == "__main__":
    main()
