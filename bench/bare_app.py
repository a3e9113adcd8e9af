"""The floor for the runtime figures: a bare Chalice app importing the same AWS libraries as the
portal (boto3, PynamoDB, Powertools), with one route that does one DynamoDB query."""

from aws_lambda_powertools import Logger, Metrics
from chalice import Chalice
from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import get_settings

logger, metrics = Logger(service="bare"), Metrics(namespace="Bare")
app = Chalice(app_name="bare")


class ByPatient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_patient"
        projection = AllProjection()

    patient_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Item(Model):
    class Meta:
        table_name = get_settings().table_name("items")
        region = get_settings().region

    id = UnicodeAttribute(hash_key=True)
    patient_id = UnicodeAttribute()
    by_patient = ByPatient()


BARE_PATIENT = "bench-bare"


@app.route("/items")
def items():
    return {"items": [row.id for row in Item.by_patient.query(BARE_PATIENT, scan_index_forward=False, limit=200)]}
