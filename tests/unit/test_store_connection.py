"""Every table's model talks through the process's one DynamoDB connection (store/base.py), so a
cold start loads DynamoDB's service description once, not once per table touched. PynamoDB has no
public option for it: this fails if an upgrade stops routing the models through the override."""

from __future__ import annotations

from chalicelib.store import tables
from chalicelib.store.base import connection


def test_every_table_hands_out_the_one_shared_connection_which_knows_its_schema():
    # Given every table's model
    models = tables.all_models()
    assert len(models) > 5

    # When each is asked for its connection, as each of its operations asks
    handed_out = {model.Meta.table_name: model._get_connection() for model in models}

    # Then each one's table connection talks through the shared connection, which knows every table
    shared = connection()
    assert {name: table.connection is shared for name, table in handed_out.items()} == dict.fromkeys(handed_out, True)
    assert all(shared.get_meta_table(name).table_name == name for name in handed_out)
