"""The one place that creates the Powertools Logger, Tracer and Metrics.

Service name and metrics namespace come from the environment (template Globals:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE); the defaults keep the module
importable anywhere (tests, tools) without that environment."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tabflow"))
