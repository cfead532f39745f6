"""API Gateway (REST) -> predictions from the champion, with the features that drove them."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow import emails
from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.errors import (
    BadRequest,
    ModelNotFound,
    ModelUnavailable,
    PiiSaltUnavailable,
    TransientError,
)
from tabflow.naming import check_dataset_name
from tabflow.observability import logger, metrics, tracer
from tabflow.openapi import document as openapi_document
from tabflow.request_body import read_json_body
from tabflow.serving.cache import ChampionCache, Incident
from tabflow.serving.capture import CaptureBuffer
from tabflow.serving.predictor import Predictor
from tabflow.settings import PredictSettings

settings = PredictSettings()  # type: ignore[call-arg]
store = S3Store()
mailer = SesMailer(settings.sender_email)


def alert_incident(incident: Incident) -> None:
    """Sent by the one process that recorded the incident first (see ChampionCache)."""
    mailer.send(
        emails.model_load_failed(
            incident.dataset, incident.champion, incident.serving, "\n".join(incident.problems)
        ),
        settings.alert_recipients,
    )


registry = DynamoRegistry(settings.registry_table)
cache = ChampionCache(
    registry,
    store,
    ttl=settings.model_cache_ttl_seconds,
    model_bucket=settings.model_bucket,
    on_incident=alert_incident,
)
# Champions load at init (the cold start), so the first request is as fast as the others.
try:
    for known in registry.datasets():
        cache.get(known)
except Exception:  # never fail init: a champion that cannot load now loads on first request
    logger.exception("preloading champions failed")
capture = CaptureBuffer(store, settings.lake_bucket, max_wait=settings.capture_max_wait_seconds)
predictor = Predictor(
    cache,
    store,
    lake_bucket=settings.lake_bucket,
    max_records=settings.max_records,
    capture=capture,
    pii_salt=lambda: pii_salt(settings.pii_salt_secret),
)
app = APIGatewayRestResolver()


def fallback_header(app: APIGatewayRestResolver, next_middleware: Any) -> Response:
    """A version other than the registered champion serves (it does not load): say so."""
    response = next_middleware(app)
    dataset = (app.current_event.path_parameters or {}).get("dataset")
    serving = cache.peek(dataset) if dataset else None
    if serving is not None and serving.fallback is not None and response.status_code == 200:
        response.headers["X-Model-Fallback"] = serving.fallback.header(serving.version.version)
    return response


app.use(middlewares=[fallback_header])


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document()


@app.post("/v1/datasets/<dataset>/predict")
@tracer.capture_method(capture_response=False)
def predict(dataset: str) -> dict[str, Any]:
    check_dataset_name(dataset)  # 404 before a name can reach a DynamoDB or S3 key
    logger.append_keys(dataset=dataset)
    event = app.current_event
    body = read_json_body(
        event.body,
        base64_encoded=bool(event.is_base64_encoded),
        headers=event.headers,
        max_bytes=settings.max_body_bytes,
    )
    answer = predictor.predict(
        dataset,
        body,
        event.request_context.request_id or "local",
        explain=_explain_flag(event.get_query_string_value("explain", "true")),
    )
    metrics.add_metric(name="PredictedRecords", unit="Count", value=len(answer["predictions"]))
    return answer


def _explain_flag(value: str | None) -> bool:
    """?explain=false skips the feature contributions (most of a large batch's cost)."""
    flag = (value or "true").strip().lower()
    if flag not in ("true", "false", "1", "0"):
        raise BadRequest(
            f"explain must be true or false, got {value!r}",
            [{"record": None, "field": "explain", "problem": "expected true or false"}],
            400,
        )
    return flag in ("true", "1")


@app.get("/v1/datasets/<dataset>/model")
def model(dataset: str) -> dict[str, Any]:
    logger.append_keys(dataset=check_dataset_name(dataset))
    return predictor.model_info(dataset)


# An error echoes what the client sent (a value, a key); cut, so that an answer stays far
# below Lambda's 6 MB response limit (over it, API Gateway answers 502) whatever was sent.
MAX_PROBLEM_CHARS = 500


def _cut(text: object) -> str:
    text = str(text)
    if len(text) <= MAX_PROBLEM_CHARS:
        return text
    return f"{text[:MAX_PROBLEM_CHARS]}… ({len(text)} characters)"


@app.exception_handler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    errors = [{**e, "problem": _cut(e.get("problem", ""))} for e in exc.errors]
    return Response(
        status_code=exc.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": _cut(exc), "errors": errors}),
    )


@app.exception_handler(ModelNotFound)
def no_model(exc: ModelNotFound) -> Response:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": str(exc)}),
    )


@app.exception_handler(ModelUnavailable)
def model_unavailable(exc: ModelUnavailable) -> Response:
    """No registered version loads: a 503 that names every problem (never a 502)."""
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(
            {
                "message": str(exc),
                "errors": [{"record": None, "field": "model", "problem": p} for p in exc.problems],
            }
        ),
        headers={"Retry-After": "60"},
    )


@app.exception_handler(TransientError)
def throttled(exc: TransientError) -> Response:
    """The registry or the model store is throttled or briefly unavailable: try again."""
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": f"temporarily unavailable, retry: {exc}", "errors": []}),
        headers={"Retry-After": "1"},
    )


@app.exception_handler(PiiSaltUnavailable)
def no_salt(exc: PiiSaltUnavailable) -> Response:
    """The model's PII fields cannot be hashed: nothing is scored or captured raw instead."""
    logger.error("PII salt unavailable", extra={"problem": str(exc)})
    message = "unavailable: this dataset's PII fields cannot be hashed (the salt is unreadable)"
    return Response(
        status_code=503,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message}),
    )


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response:
    """Anything not foreseen: logged with its traceback, answered as a 500 that carries the
    request id to quote (the logs carry it as their correlation id), never Lambda's 502."""
    request_id = app.current_event.request_context.request_id or "local"
    logger.exception("unexpected error")  # the request id is the correlation id
    return Response(
        status_code=500,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": "internal error", "request_id": request_id}),
    )


@app.not_found
def unknown_route(exc: NotFoundError) -> Response:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(
            {"message": f"no route {app.current_event.http_method} {app.current_event.path}"}
        ),
    )


# The request id is the logs' correlation id; clear_state=True: the dataset a request
# appended is gone before the next request of a warm environment.
@logger.inject_lambda_context(
    log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)  # large payloads stay out of traces
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:  # captures are written before the environment can be frozen (or retired)
        capture.end_invocation(context.get_remaining_time_in_millis() / 1000)
