"""The one Logger and Metrics of the portal.

Logs and metrics never carry medical content, passwords or tokens: log identifiers and outcomes only.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics

SERVICE = "patient-portal"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="PatientPortal", service=SERVICE)

# Most requests record no metric; flushing an empty set at the end of each is expected, not news.
warnings.filterwarnings("ignore", message="No application metrics to publish")
