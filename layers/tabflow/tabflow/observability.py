"""The one place that creates the Powertools Logger, Tracer and Metrics.

Service name and metrics namespace come from the environment (template Globals:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
