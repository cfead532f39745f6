"""The prediction API's OpenAPI document, built from pydantic models of what it accepts and
returns. Served at GET /openapi.json; a copy is committed (functions/predict/openapi.json) and
a test keeps the two equal."""

from typing import Any

from pydantic import BaseModel, Field

VERSION = "1.0.0"


class Contribution(BaseModel):
    feature: str
    contribution: float = Field(
        description="Effect on the log-odds (binary), on the predicted class's log-odds "
        "(multiclass), or on the value (regression)"
    )


class Prediction(BaseModel):
    score: float = Field(
        description="Binary: calibrated probability of the positive label; multiclass: the "
        "probability of the predicted class (the largest of `probabilities`); regression: "
        "the predicted value"
    )
    label: str | None = Field(
        description="Binary: the label at the champion's threshold; multiclass: the predicted "
        "(most probable) class; null for regression"
    )
    probabilities: dict[str, float] | None = Field(
        None,
        description="Multiclass only: every class's probability by class label (they sum to 1); "
        "absent for binary and regression models",
    )
    interval: list[float] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Regression only: [low, high], the split-conformal prediction interval at "
        "the coverage the dataset's contract declares (default 90%); absent for binary and "
        "multiclass models (and for a regression model trained before intervals existed)",
    )
    top_features: list[Contribution] | None = Field(
        None,
        description="The three largest contributions (multiclass: to the predicted class); "
        "absent with ?explain=false",
    )


class PredictRequest(BaseModel):
    records: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description="Feature values by name; see GET /v1/datasets/{dataset}/model",
    )


class PredictResponse(BaseModel):
    request_id: str
    dataset: str
    model_version: int
    model_kind: str
    threshold: float = Field(
        description="Binary: the decision threshold; multiclass: 0 (the most probable class is "
        "the label); not used by regression"
    )
    predictions: list[Prediction]


class FieldError(BaseModel):
    record: int | None
    field: str | None
    problem: str


class ErrorResponse(BaseModel):
    message: str
    errors: list[FieldError] = []


class FeatureInfo(BaseModel):
    name: str
    kind: str
    categories: list[str]
    nullable: bool


class ModelInfo(BaseModel):
    dataset: str
    version: int
    kind: str
    threshold: float
    task: str = Field("binary", description="binary, multiclass or regression")
    classes: list[str] = Field(
        [], description="multiclass: the classes, in the order the model learned them"
    )
    metrics: dict[str, Any]
    gates: list[dict[str, Any]] = []
    run_id: str
    created_at: str
    features: list[FeatureInfo]
    sha256: str
    fallback: dict[str, Any] | None = Field(
        None,
        description="Set when the registered champion does not load and this older version "
        "serves instead: {champion, problem}",
    )


def document() -> dict[str, Any]:
    models = [PredictRequest, PredictResponse, ErrorResponse, ModelInfo]
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    def ref(name: str) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        }

    errors = {
        "400": {
            "description": "Malformed JSON or no records. Also: bytes that are not UTF-8, "
            "nesting deeper than 64 levels, an integer of more than 300 digits, a number beyond "
            "a 64-bit float (1e999), NaN or Infinity, a duplicate key, a lone surrogate (\\ud800)",
            **ref("ErrorResponse"),
        },
        "403": {"description": "Missing or wrong API key"},
        "404": {"description": "No champion model for this dataset", **ref("ErrorResponse")},
        "413": {"description": "Too many records or a body too large", **ref("ErrorResponse")},
        "415": {
            "description": "A Content-Encoding (gzip, deflate...: send the JSON uncompressed), "
            "a charset other than UTF-8, or a UTF-16/UTF-32 body",
            **ref("ErrorResponse"),
        },
        "422": {
            "description": "A record breaks the contract: the field and the problem are named",
            **ref("ErrorResponse"),
        },
        "503": {
            "description": "No registered version of the dataset loads: each problem is named",
            **ref("ErrorResponse"),
        },
    }
    dataset = {"name": "dataset", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tabflow prediction API",
            "version": VERSION,
            "description": "Predictions from each dataset's champion model, with the features that drove them.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
        },
        "security": [{"api_key": []}],
        "paths": {
            "/v1/datasets/{dataset}/predict": {
                "post": {
                    "summary": 'Score one record, a list, or {"records": [...]} (up to 1,000)',
                    "parameters": [
                        dataset,
                        {
                            "name": "explain",
                            "in": "query",
                            "required": False,
                            "description": "false: scores and labels only, without the feature "
                            "contributions (most of the cost of a large batch)",
                            "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "description": "JSON in UTF-8, uncompressed, at most 2 MB",
                        **ref("PredictRequest"),
                    },
                    "responses": {
                        "200": {
                            "description": "One prediction per record",
                            "headers": {
                                "X-Model-Fallback": {
                                    "description": "Present when the registered champion does "
                                    "not load and an older version answered: which and why",
                                    "schema": {"type": "string"},
                                }
                            },
                            **ref("PredictResponse"),
                        },
                        **errors,
                    },
                }
            },
            "/v1/datasets/{dataset}/model": {
                "get": {
                    "summary": "The champion: version, metrics, gates, expected features",
                    "parameters": [dataset],
                    "responses": {
                        "200": {"description": "Model card summary", **ref("ModelInfo")},
                        "403": errors["403"],
                        "404": errors["404"],
                        "503": errors["503"],
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3"}},
                }
            },
        },
    }
