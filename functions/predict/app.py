"""API Gateway (REST) -> predictions from the champion, with the features that drove them."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from tabflow import emails
from tabflow.adapters.dynamodb import DynamoRegistry
from tabflow.adapters.s3 import S3Store
from tabflow.adapters.secrets import pii_salt
from tabflow.adapters.ses import SesMailer
from tabflow.errors import BadRequest, ModelNotFound, PiiSaltUnavailable
from tabflow.observability import logger, metrics, tracer
from tabflow.openapi import document as openapi_document
from tabflow.ports import ModelVersion
from tabflow.serving.cache import ChampionCache
from tabflow.serving.capture import CaptureBuffer
from tabflow.serving.predictor import Predictor
from tabflow.settings import PredictSettings

settings = PredictSettings()  # type: ignore[call-arg]
store = S3Store()
mailer = SesMailer(settings.sender_email)


def alert_load_failure(new: ModelVersion, serving: ModelVersion, exc: Exception) -> None:
    mailer.send(
        emails.model_load_failed(new.dataset, new.version, serving.version, repr(exc)),
        settings.alert_recipients,
    )


registry = DynamoRegistry(settings.registry_table)
cache = ChampionCache(
    registry,
    store,
    ttl=settings.model_cache_ttl_seconds,
    on_load_failure=alert_load_failure,
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


@app.get("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document()


@app.post("/v1/datasets/<dataset>/predict")
@tracer.capture_method
def predict(dataset: str) -> dict[str, Any]:
    raw = app.current_event.decoded_body or ""
    if len(raw) > settings.max_body_bytes:
        raise BadRequest(
            f"body too large: {len(raw)} bytes > {settings.max_body_bytes}",
            [
                {
                    "record": None,
                    "field": "body",
                    "problem": f"at most {settings.max_body_bytes} bytes",
                }
            ],
            413,
        )
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"malformed JSON body: {exc}",
            [{"record": None, "field": "body", "problem": str(exc)}],
            400,
        ) from exc
    answer = predictor.predict(
        dataset,
        body,
        app.current_event.request_context.request_id or "local",
        explain=_explain_flag(app.current_event.get_query_string_value("explain", "true")),
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
    return predictor.model_info(dataset)


@app.exception_handler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    return Response(
        status_code=exc.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": str(exc), "errors": exc.errors}),
    )


@app.exception_handler(ModelNotFound)
def no_model(exc: ModelNotFound) -> Response:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": str(exc)}),
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


@app.not_found
def unknown_route(exc: NotFoundError) -> Response:
    return Response(
        status_code=404,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(
            {"message": f"no route {app.current_event.http_method} {app.current_event.path}"}
        ),
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return app.resolve(event, context)
    finally:  # captures are written before the environment can be frozen (or retired)
        capture.end_invocation(context.get_remaining_time_in_millis() / 1000)
