"""The one Logger, Metrics and Tracer of the portal.

Logs and metrics never carry medical content, passwords or tokens: log identifiers and outcomes only.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "patient-portal"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="PatientPortal", service=SERVICE)
tracer = Tracer(service=SERVICE)
