"""What every table shares: its name from settings, the region, on-demand billing."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pynamodb.attributes import Attribute, MapAttribute, UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.exceptions import DeleteError, PutError, TableError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import MetaProtocol, Model
from pynamodb.transactions import TransactWrite

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
    """Base of every table's model: they all talk through the one shared connection.

    PynamoDB 6.1 has no public way to hand a model a connection: its Meta options (region, host,
    timeouts, retries, pool size, extra headers, credentials) only configure the Connection each
    model makes for itself (pynamodb/PynamoDB#1245 asks for a Meta option). So the model's own
    connection is swapped for the shared one where PynamoDB makes it, in `_get_connection`, the one
    place every model operation asks for its connection; tests/unit/test_store_connection.py fails
    if an upgrade stops routing the models through it."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
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


def meta(name: str) -> MetaProtocol:
    """A PynamoDB Meta for the table `name` of this stage (PynamoDB fills in its other options,
    timeouts and the like, when the model class is made)."""

    class Meta:
        table_name = _settings.table_name(name)
        region = _settings.region
        billing_mode = "PAY_PER_REQUEST"

    return cast(MetaProtocol, Meta)


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


class StillContended(Exception):
    """Other transactions kept holding the same rows, so nothing was written; try again later."""


_TRANSACTION_TRIES = 4


def transact(write: Callable[[TransactWrite], None]) -> bool:
    """Run the transaction `write` builds: True when it was written, False when one of its
    conditions did not hold. While another transaction holds the same rows it is tried again, a
    little later each time (that one's outcome then decides ours); StillContended if it never frees.
    (PynamoDB sends puts before updates, so a cancellation reason's position doesn't say which row
    failed: each caller says what a failed condition means for its own transaction.)"""
    for attempt in range(_TRANSACTION_TRIES):
        if attempt:
            time.sleep(0.01 * 2**attempt)
        try:
            with TransactWrite(connection=connection()) as tx:
                write(tx)
            return True
        except TransactWriteError as err:
            codes = {getattr(reason, "code", "") for reason in (err.cancellation_reasons or []) if reason}
            if "ConditionalCheckFailed" in codes:
                return False
            if "TransactionConflict" not in codes:
                raise
    raise StillContended()


@dataclass(frozen=True)
class RowRead:
    """One row to read by its hash key, and how to turn its raw attributes (None: no such row)
    into what the caller wants."""

    model: type[Model]
    key: str
    parse: Callable[[dict[str, Any] | None], Any]


def read_together(*reads: RowRead) -> list[Any]:
    """Several rows, from one table or several, in ONE consistent BatchGetItem round trip; the
    answers come back in the order asked (keys DynamoDB leaves unprocessed are asked again)."""
    client = connection().client
    wanted: dict[str, dict[str, Any]] = {}
    asked: set[tuple[str, str]] = set()
    for read in reads:
        table_name = read.model.Meta.table_name
        if (table_name, read.key) in asked:  # one row asked for twice is read once (DynamoDB refuses duplicates)
            continue
        asked.add((table_name, read.key))
        hash_key = read.model._hash_key_attribute().attr_name
        entry = wanted.setdefault(table_name, {"Keys": [], "ConsistentRead": True})
        entry["Keys"].append({hash_key: {"S": read.key}})
    found: dict[tuple[str, str], dict[str, Any]] = {}
    attempt = 0
    while wanted:
        if attempt:
            time.sleep(min(0.05 * 2**attempt, 1.0))  # unprocessed keys mean throttling: back off
        answer = client.batch_get_item(RequestItems=wanted)
        for table_name, rows in answer.get("Responses", {}).items():
            for row in rows:
                found[(table_name, _hash_value(table_name, row, reads))] = row
        wanted, attempt = answer.get("UnprocessedKeys") or {}, attempt + 1
    return [read.parse(found.get((read.model.Meta.table_name, read.key))) for read in reads]


def _hash_value(table_name: str, row: dict[str, Any], reads: tuple[RowRead, ...]) -> str:
    model = next(read.model for read in reads if read.model.Meta.table_name == table_name)
    value: str = row[model._hash_key_attribute().attr_name]["S"]
    return value


class NullableText(UnicodeAttribute):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(null=True, **kwargs)


_T = TypeVar("_T")


def set_nullable(attribute: Attribute[_T], value: _T | None) -> Action:
    """`attribute.set(value)` for an attribute declared with null=True: None is written as
    DynamoDB's NULL (PynamoDB's type hints leave None out of `set`)."""
    return attribute.set(cast(_T, value))


class NamedMap(MapAttribute[str, Any]):
    """A map attribute with named fields, made with them as keyword arguments."""

    if TYPE_CHECKING:  # MapAttribute's own constructor carries no type hints

        def __init__(self, **attributes: Any) -> None: ...


ALL_MODELS: list[type[Model]] = []
_M = TypeVar("_M", bound=Model)


def table(model: type[_M]) -> type[_M]:
    """Class decorator: registers a model so the local stack and infra checks know every table."""
    ALL_MODELS.append(model)
    return model
