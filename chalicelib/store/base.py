"""What every table shares: its name from settings, the region, on-demand billing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from functools import cache

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TableError, UpdateError
from pynamodb.models import Model

from chalicelib.settings import get_settings

_settings = get_settings()


@cache
def connection() -> Connection:
    """The one DynamoDB connection of the process, for every table and every transaction.

    PynamoDB would otherwise give each model its own botocore session and client, and each of
    those loads DynamoDB's service description again: tens of milliseconds per table touched on a
    cold start, and per transaction. botocore clients are safe to share between threads."""
    shared = Connection(region=_settings.region)
    shared.client  # noqa: B018 - made now, once, rather than lazily in whichever thread comes first
    return shared


class PortalModel(Model):
    """Base of every table's model: they all talk through the one shared connection."""

    @classmethod
    def _get_connection(cls):
        table_connection = super()._get_connection()
        shared = connection()
        if table_connection.connection is not shared:
            # The model's own connection knows the table's schema (and has made no client yet).
            try:
                shared.get_meta_table(cls.Meta.table_name)
            except TableError:
                with suppress(ValueError):  # another thread added it first
                    shared.add_meta_table(table_connection.connection.get_meta_table(cls.Meta.table_name))
            table_connection.connection = shared
        return table_connection


def meta(name: str) -> type:
    """A PynamoDB Meta for the table `name` of this stage."""

    class Meta:
        table_name = _settings.table_name(name)
        region = _settings.region
        billing_mode = "PAY_PER_REQUEST"

    return Meta


def conditional(write: Callable[[], object]) -> bool:
    """Run one conditional write: True when it was made, False when its condition did not hold
    (another request got there first). Every other failure is raised."""
    try:
        write()
        return True
    except (PutError, UpdateError, DeleteError) as err:
        if err.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


class NullableText(UnicodeAttribute):
    def __init__(self, **kwargs):
        super().__init__(null=True, **kwargs)


ALL_MODELS: list[type[Model]] = []


def table(model: type[Model]) -> type[Model]:
    """Class decorator: registers a model so the local stack and infra checks know every table."""
    ALL_MODELS.append(model)
    return model
