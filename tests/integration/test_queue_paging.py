"""The office's work queue a page at a time (`GET /api/staff/queue?limit=&cursor=`): following the
cursors gives every open entry of every list once, in the order of the whole queue, entries made
at the same moment included; without `limit` the queue answers whole, as it always has. The queue
page (`/staff/queue`) shows a page of each list and links to the next."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime

from chalicelib.localstack.calls import Call, Recorder, recording
from chalicelib.store import work as work_store
from tests.conftest import STAFF_PASSWORD
from tests.support.pages import signed_in_pages

LISTS = ("follow_ups", "forms", "quarantine", "failed_notices", "critical_results")


def test_following_the_cursors_gives_every_open_entry_once_in_the_queues_order(portal, staff):
    # Given forgot-username forms sent in turn, and three forms the queue took at one same moment
    for n in range(3):
        sent = portal.public.post("/api/forms/forgot-username", json={
            "name": f"Paging Person {n}", "date_of_birth": "1970-01-31", "email": f"paging{n}@example.com"})
        assert sent.status_code == 202, sent.text
    moment = datetime.now(UTC)
    same_moment = [f"form#paging-{secrets.token_hex(4)}" for _ in range(3)]
    for entry_id in same_moment:
        work_store.add(work_store.WorkEntry(entry_id, kind="form", created_at=moment, data={"name": "Same Moment"}))
    whole = staff.get("/api/staff/queue")
    assert whole.status_code == 200 and whole.json()["next_cursor"] is None

    # When the office reads the queue two entries of each list at a time, following the cursors
    pages, cursor = [], None
    while True:
        answer = staff.get("/api/staff/queue", params={"limit": "2", **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            break

    # Then no page holds more than two of a list, and together they hold each list whole, in order
    assert len(pages) >= 3 and all(len(page[name]) <= 2 for page in pages for name in LISTS)
    for name in LISTS:
        assert [entry["id"] for page in pages for entry in page[name]] == [entry["id"] for entry in whole.json()[name]]
    assert set(same_moment) <= {entry["id"] for page in pages for entry in page["forms"]}
    # And the bounced addresses come whole, on the first page only
    assert pages[0]["bad_emails"] == whole.json()["bad_emails"] and all(page["bad_emails"] == [] for page in pages[1:])


def test_a_cursor_or_limit_the_queue_did_not_give_is_a_400_naming_it(portal, staff):
    # When the office asks with a made-up cursor, another list's cursor, and limits out of range
    made_up = staff.get("/api/staff/queue", params={"cursor": "bm90LWEtY3Vyc29y"})
    audit_cursor = staff.get("/api/staff/queue", params={"limit": "2", "cursor": "WyJhdWRpdCIsICJ4Il0"})
    too_many = staff.get("/api/staff/queue", params={"limit": "501"})
    none = staff.get("/api/staff/queue", params={"limit": "0"})

    # Then each is a 400 naming the parameter
    for answer, field in ((made_up, "cursor"), (audit_cursor, "cursor"), (too_many, "limit"), (none, "limit")):
        assert answer.status_code == 400 and field in answer.json()["message"], answer.text


def test_the_queue_page_shows_a_page_of_each_list_and_links_to_the_next_until_every_entry_was_shown(portal, staff):
    # Given forms on the queue (among every other test's entries of this stack)
    for n in range(3):
        work_store.add(work_store.WorkEntry(f"form#page-{secrets.token_hex(4)}", kind="form",
                                            created_at=datetime.now(UTC), data={"name": f"Paged Person {n}"}))
    forms = [entry["id"] for entry in staff.get("/api/staff/queue").json()["forms"]]
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)

    # When the office opens the queue page two entries of each list at a time, following its "More entries" link
    shown, texts, url = [], [], f"{portal.base_url}/staff/queue?limit=2"
    while url:
        page = pages.get(url, timeout=30)
        assert page.status_code == 200, page.text
        texts.append(page.text)
        shown += re.findall(r'data-form-id="([^"]+)"', page.text)
        more = re.search(r'<a class="button" href="(/staff/queue\?[^"]+)">', page.text)
        url = f"{portal.base_url}{html.unescape(more.group(1))}" if more else None

    # Then the pages showed every form once, oldest first, at most two a page, and every heading
    # counts its whole list
    assert shown == forms and len(texts) >= 2
    assert all(len(re.findall(r'data-form-id="', text)) <= 2 for text in texts)
    assert f"Forms ({len(forms)})" in texts[0]
    # And a cursor the queue did not give is the 400 page naming it
    bad = pages.get(f"{portal.base_url}/staff/queue?cursor=bm90LWEtY3Vyc29y", timeout=30)
    assert bad.status_code == 400 and "cursor" in bad.text


class CountQueries(Recorder):
    """Keeps each count the portal asks DynamoDB for: (table, index, key values)."""

    def add(self, call: Call, params: dict | None = None) -> None:
        params = params or {}
        if call.operation == "Query" and params.get("Select") == "COUNT":
            values = tuple(sorted(str(v) for v in (params.get("ExpressionAttributeValues") or {}).values()))
            super().add(Call(call.service, call.operation, f"{call.resource} {params.get('IndexName')} {values}"))


def test_the_home_pages_tiles_count_each_list_once_and_agree_with_the_queue_page(portal, staff):
    # Given the office signed in on the pages, and the queue's own counts
    pages = signed_in_pages(portal.base_url, "desk", STAFF_PASSWORD)
    queue_page = pages.get(f"{portal.base_url}/staff/queue", timeout=30).text
    headings = {anchor: int(count) for anchor, count in
                re.findall(r'<h2 id="([a-z-]+)">[^<]*\((\d+)\)</h2>', queue_page)}

    # When the home page is opened, every count it asks for recorded
    with recording(CountQueries()) as counted:
        home = pages.get(f"{portal.base_url}/staff", timeout=30).text

    # Then no count is asked for twice
    asked = [call.resource for call in counted.calls]
    assert asked and len(asked) == len(set(asked)), asked
    # And each tile that opens a list of the queue shows that list's count
    tiles = {anchor: int(count) for anchor, count in
             re.findall(r'href="/staff/queue#([a-z-]+)"><strong>(\d+)</strong>', home)}
    assert set(tiles) == {"follow-ups", "forms", "quarantine", "bad-emails"}
    assert {anchor: headings[anchor] for anchor in tiles} == tiles
