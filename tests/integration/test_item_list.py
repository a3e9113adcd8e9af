"""The patient's item list: read together with the session in one round trip, and kept in step
with the items by every write that changes what it shows (publication, first read, a provider
comment, an office message). A session token cannot be turned into another patient's list."""

from __future__ import annotations

from chalicelib.localstack import pump
from chalicelib.localstack.calls import recording
from tests.integration.test_documents import published
from tests.integration.test_publication import PDF, documents_of, post_file, upload_form


def _listed(patient) -> list[dict]:
    answer = patient.api.get("/api/items")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_the_list_follows_publication_reads_comments_and_office_messages(portal, staff):
    # Given a patient with two published documents
    patient, first = published(portal, staff)
    assert post_file(upload_form(staff, patient), PDF).ok
    pump.drain()
    [second] = [doc["id"] for doc in documents_of(staff, patient) if doc["id"] != first]

    # When the patient opens the first one
    assert patient.api.get(f"/api/documents/{first}").status_code == 200
    after_read = {item["id"]: item for item in _listed(patient)}

    # Then the list shows both, the first read and the second not
    assert set(after_read) == {first, second}
    assert after_read[first]["read_at"] is not None and after_read[second]["read_at"] is None
    assert {item["kind"] for item in after_read.values()} == {"document"}

    # When the provider comments on the first one, and the office starts a thread
    assert staff.post(f"/api/staff/documents/{first}/comments", json={"text": "Please call us"}).status_code == 201
    started = staff.post(f"/api/staff/patients/{patient.id}/messages", json={"subject": "Results", "body": "Call us"})
    assert started.status_code == 201, started.text
    listed = _listed(patient)

    # Then the first document is unread again and the message is listed first (newest first)
    by_id = {item["id"]: item for item in listed}
    assert by_id[first]["read_at"] is None
    assert listed[0]["id"] == started.json()["id"] and listed[0]["kind"] == "message"
    assert listed[0]["title"] == "Results" and listed[0]["read_at"] is None
    assert [item["created_at"] for item in listed] == sorted((item["created_at"] for item in listed), reverse=True)


def test_the_list_and_the_session_are_one_dynamodb_round_trip(portal, staff):
    # Given a patient with a document, whose session was just used (no idle-time touch is due)
    patient, _ = published(portal, staff)
    assert patient.api.get("/api/me").status_code == 200

    # When the patient lists their items
    with recording() as calls:
        listed = _listed(patient)

    # Then DynamoDB saw exactly one call: the session and the list in one BatchGetItem
    assert len(listed) == 1
    assert [c.operation for c in calls.calls if c.service == "dynamodb"] == ["BatchGetItem"]


def test_a_token_with_another_patients_id_is_refused(portal, staff):
    # Given two patients, the other one with a document
    patient = portal.new_patient(staff)
    other, _ = published(portal, staff)
    secret = patient.api.token.partition(".")[2]

    # When the first patient's token is presented with the other patient's id in front
    forged = patient.api.anonymous()
    forged.token = f"{other.id}.{secret}"
    answer = forged.get("/api/items")

    # Then it is refused like any unknown token, and nothing of the other's list is shown
    assert answer.status_code == 401
    assert "items" not in answer.json()
    assert patient.api.token.startswith(f"{patient.id}.")


def test_after_sign_out_the_list_is_refused(portal, staff):
    # Given a patient with a document, signed in
    patient, _ = published(portal, staff)
    assert len(_listed(patient)) == 1

    # When they sign out
    assert patient.api.post("/api/auth/logout").status_code in (200, 204)

    # Then the same token no longer lists anything
    assert patient.api.get("/api/items").status_code == 401


def test_tokens_this_portal_never_issues_are_refused_without_error(portal):
    # Given tokens of shapes the portal never issues
    shapes = ["no-dot-at-all", ".starts-with-a-dot", "p_x.", "a" * 201, "p_x.y\u00e9"]

    # When each is presented to the item list
    answers = [portal.public.get("/api/items", headers={"Authorization": f"Bearer {token}"}) for token in shapes]

    # Then each is a plain 401
    assert [answer.status_code for answer in answers] == [401] * len(shapes)
