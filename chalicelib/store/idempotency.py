"""The table Powertools' idempotency layer keeps its records in (declared here so the local
stack and the infrastructure create it like every other table)."""

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.base import PortalModel, meta, table


@table
class IdempotencyRecord(PortalModel):
    Meta = meta("idempotency")

    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)
    in_progress_expiration = NumberAttribute(null=True)
