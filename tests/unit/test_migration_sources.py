"""How a migration reads its rows (`store.migrations.RowSource`, `pages`): always a Query of an
index the model declares, key by key or under each row of another source, page by page with a
cursor to carry on from; never a Scan (a stand-in connection that can only Query)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.services.maintenance.migrations import MIGRATIONS
from chalicelib.store import migrations as store
from chalicelib.store.accounts import Account
from chalicelib.store.sessions import Session


@dataclass
class QueryOnly:
    """A table connection that answers Queries from `rows` (by key, `per_page` at a time) and has
    no Scan at all; every Query is kept as (key, index, start)."""

    rows: dict[str, list[dict[str, Any]]]
    per_page: int = 2
    queries: list[tuple[str, str, Any]] = field(default_factory=list)

    def query(self, key, index_name=None, filter_condition=None, limit=None, exclusive_start_key=None):
        self.queries.append((key, index_name, exclusive_start_key))
        under, start = self.rows.get(key, []), int((exclusive_start_key or {}).get("at", 0))
        size = min(limit or self.per_page, self.per_page)
        answer: dict[str, Any] = {"Items": under[start:start + size]}
        if start + size < len(under):
            answer["LastEvaluatedKey"] = {"at": start + size}
        return answer


def _account(account_id: str) -> dict[str, Any]:
    return {"id": {"S": account_id}, "role": {"S": "staff"}}


def _session(token: str, account_id: str) -> dict[str, Any]:
    return {"token_hash": {"S": token}, "account_id": {"S": account_id}}


def _sources(source: store.RowSource) -> list[store.RowSource]:
    return [source, *(_sources(source.within) if source.within is not None else [])]


def test_every_migration_reads_through_an_index_its_model_declares():
    # Given every migration of this release
    for migration in MIGRATIONS:
        # Then each source it reads, and each it reads under, is a Query of a declared index, by key
        for source in _sources(migration.rows):
            declared = {index.Meta.index_name for index in source.model._indexes.values()}
            assert source.index in declared, (migration.id, source.index)
            assert source.keys or source.within is not None, migration.id


def test_keys_are_read_page_by_page_and_a_cursor_carries_on_where_it_stopped(monkeypatch):
    # Given accounts under two keys of an index: three under the first, one under the second
    connection = QueryOnly({"staff": [_account("a1"), _account("a2"), _account("a3")], "admin": [_account("a4")]})
    monkeypatch.setattr(Account, "_get_connection", classmethod(lambda cls: connection))
    source = store.RowSource(Account, "by_role", ("staff", "admin"))

    # When every page is read from the start
    read = [([row.id for row in rows], cursor) for rows, cursor in store.pages(source, None, 2)]

    # Then the first key is read in two pages, then the second, each with where to carry on, and no more
    assert read == [(["a1", "a2"], {"key": 0, "after": {"at": 2}}), (["a3"], {"key": 1, "after": None}),
                    (["a4"], None)]
    assert [(key, index) for key, index, _ in connection.queries] == [("staff", "by_role")] * 2 + [("admin", "by_role")]

    # When a run carries on from the second page's cursor
    resumed = [[row.id for row in rows] for rows, _ in store.pages(source, {"key": 1, "after": None}, 2)]

    # Then it reads only what was left
    assert resumed == [["a4"]]


def test_rows_under_another_sources_rows_are_read_whole_a_page_of_owners_at_a_time(monkeypatch):
    # Given two office accounts a page, three accounts, and their sessions (three under the first)
    accounts = QueryOnly({"staff": [_account("a1"), _account("a2"), _account("a3")]})
    sessions = QueryOnly({"a1": [_session("t1", "a1"), _session("t2", "a1"), _session("t3", "a1")],
                          "a3": [_session("t4", "a3")]})
    monkeypatch.setattr(Account, "_get_connection", classmethod(lambda cls: accounts))
    monkeypatch.setattr(Session, "_get_connection", classmethod(lambda cls: sessions))
    owners = store.RowSource(Account, "by_role", ("staff",))
    source = store.RowSource(Session, "by_account", within=owners, key_of=lambda account: account.id)

    # When every page is read
    read = [([row.token_hash for row in rows], cursor) for rows, cursor in store.pages(source, None, 2)]

    # Then each page holds every session of a page of accounts, and carries on at the next accounts' page
    assert read == [(["t1", "t2", "t3"], {"key": 0, "after": {"at": 2}}), (["t4"], None)]
    assert [key for key, _, _ in sessions.queries] == ["a1", "a1", "a2", "a3"]
