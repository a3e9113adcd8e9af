"""Take-away records: a patient asks for everything the portal holds for them (202 and an id), an
SQS job builds one zip (every document's current file, a FHIR R4 `bundle.json`, an offline
`index.html` in the patient's language), the status turns ready with a short-lived link, the patient
is mailed without PHI, and all of it is audited. Retracted documents are left out; a replaced one
gives its current version only. Another patient's export id is 404; anyone but a patient gets 403."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import timedelta
from urllib.parse import quote, unquote

import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.patient import Patient

from chalicelib.localstack import pump
from tests.integration.test_publication import PDF, PNG, documents_of, post_file, upload_form

LAB = "Lipid panel & “fasting” <results>"
SCAN = "Chest X-ray: report"
TWIN = "Visit summary"
WRONG = "Pathology report for somebody else"
FIRST_VERSION = PDF + b"% first version\n"
CORRECTED = PNG + b"corrected"


def _upload(staff, patient, title: str, body: bytes, filename: str = "file.pdf", content_type: str = "application/pdf",
            **extra) -> str:
    """One published document; returns its id."""
    before = {d["id"] for d in documents_of(staff, patient)}
    assert post_file(upload_form(staff, patient, filename=filename, content_type=content_type, title=title, **extra),
                     body, filename=filename).ok
    pump.drain()
    [doc_id] = {d["id"] for d in documents_of(staff, patient)} - before
    return doc_id


def _patient_with_records(portal, staff):
    """A patient with documents (two of the same title), a retracted one, a replaced one and
    messages both ways. Returns (patient, {title: bytes the zip must hold}, replaced document's old bytes)."""
    patient = portal.new_patient(staff)
    files = {LAB: PDF + b"% lipids\n", SCAN: PNG + b"scan"}
    _upload(staff, patient, LAB, files[LAB])
    _upload(staff, patient, SCAN, files[SCAN], filename="scan.png", content_type="image/png")
    _upload(staff, patient, TWIN, PDF + b"% twin one\n")
    _upload(staff, patient, TWIN, PDF + b"% twin two\n")
    wrong = _upload(staff, patient, WRONG, PDF + b"% not theirs\n")
    assert staff.post(f"/api/staff/documents/{wrong}/retract", json={"reason": "Wrong patient"}).status_code == 200
    replaced = _upload(staff, patient, "Thyroid panel", FIRST_VERSION)
    form = staff.post(f"/api/staff/documents/{replaced}/replace",
                      json={"filename": "corrected.png", "content_type": "image/png"})
    assert form.status_code == 201, form.text
    assert post_file(form.json(), CORRECTED, filename="corrected.png").ok
    pump.drain()
    assert staff.get(f"/api/staff/documents/{replaced}").json()["version"] == 2
    files["Thyroid panel"] = CORRECTED
    sent = patient.api.post("/api/messages", json={"subject": "About my <lipids>", "body": "Should I fast & wait?"})
    assert sent.status_code == 201, sent.text
    thread_id = sent.json()["id"]
    assert staff.post(f"/api/staff/messages/{thread_id}", json={"body": "Yes, 12 hours."}).status_code == 201
    return patient, files


def _ready(patient, export_id: str) -> dict:
    pump.drain()
    answer = patient.api.get(f"/api/me/exports/{export_id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ready", answer.json()
    return answer.json()


def _zip(url: str) -> zipfile.ZipFile:
    download = requests.get(url, timeout=30)
    assert download.status_code == 200, download.text[:300]
    return zipfile.ZipFile(io.BytesIO(download.content))


def test_a_patients_export_holds_every_current_file_a_valid_fhir_bundle_and_an_index(portal, staff):
    # Given a patient with documents, a retracted one, a replaced one and messages
    patient, files = _patient_with_records(portal, staff)

    # When they ask for their records
    asked = patient.api.post("/api/me/exports")

    # Then the answer is 202 with an id, and the export is pending until the job has run
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    assert patient.api.get(f"/api/me/exports/{export_id}").json() == {"status": "pending"}

    # And once the job has run it is ready, with a short-lived link
    ready = _ready(patient, export_id)
    assert ready["url"].startswith("http") and ready["expires_at"].endswith("Z")
    archive = _zip(ready["url"])
    names = archive.namelist()
    assert {"bundle.json", "index.html"} <= set(names)

    # And every document's current file is in it, byte for byte; the retracted one is not
    documents = sorted(n for n in names if n.startswith("documents/"))
    assert len(documents) == 6 - 1  # six documents, one retracted
    contents = {name: archive.read(name) for name in documents}
    for body in files.values():
        assert body in contents.values()
    assert FIRST_VERSION not in contents.values()
    assert PDF + b"% not theirs\n" not in contents.values()
    assert {PDF + b"% twin one\n", PDF + b"% twin two\n"} <= set(contents.values())
    # named after their titles, safe and unique
    assert "documents/Visit summary.pdf" in documents and "documents/Visit summary (2).pdf" in documents
    assert "documents/Thyroid panel.png" in documents
    assert all("/" not in n.removeprefix("documents/") and ":" not in n for n in documents)

    # And bundle.json is a FHIR R4 collection Bundle that validates: the Patient, one DocumentReference
    # per document (its attachment naming its file, with type, size and SHA-1) and one Communication per message
    data = json.loads(archive.read("bundle.json"))
    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection"
    by_type: dict[str, list[dict]] = {}
    for entry in data["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
        assert entry["fullUrl"].startswith("urn:uuid:")
    [patient_resource] = by_type["Patient"]
    Patient.model_validate(patient_resource)
    assert patient_resource["name"][0]["text"] == patient.name
    assert len(by_type["DocumentReference"]) == len(documents)
    for resource in by_type["DocumentReference"]:
        DocumentReference.model_validate(resource)
        attachment = resource["content"][0]["attachment"]
        body = archive.read(unquote(attachment["url"]))
        assert attachment["size"] == len(body)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(body).digest()).decode()
        assert attachment["contentType"] in ("application/pdf", "image/png")
        assert resource["status"] == "current" and resource["type"]["text"]
        assert resource["subject"]["reference"] == data["entry"][0]["fullUrl"]
    thyroid = next(r for r in by_type["DocumentReference"] if r["description"] == "Thyroid panel")
    assert thyroid["docStatus"] == "amended" and thyroid["content"][0]["attachment"]["contentType"] == "image/png"
    assert WRONG not in json.dumps(data)
    assert len(by_type["Communication"]) == 2
    for resource in by_type["Communication"]:
        Communication.model_validate(resource)
    assert {r["payload"][0]["contentString"] for r in by_type["Communication"]} == {"Should I fast & wait?",
                                                                                    "Yes, 12 hours."}

    # And index.html lists every document (escaped) and message, in English, with links into the zip
    index = archive.read("index.html").decode()
    assert '<html lang="en">' in index
    assert "Lipid panel &amp; “fasting” &lt;results&gt;" in index and LAB not in index
    for title in (SCAN, TWIN, "Thyroid panel"):
        assert title in index
    for name in documents:
        assert f'href="{quote(name)}"' in index
    assert WRONG not in index
    assert "About my &lt;lipids&gt;" in index and "Should I fast &amp; wait?" in index
    assert "<script" not in index and "http://" not in index.split("<body>")[1]


def test_the_patient_is_mailed_without_phi_and_every_step_is_audited(portal, staff, admin):
    # Given a patient with a document, who asks for their records
    patient = portal.new_patient(staff)
    _upload(staff, patient, LAB, PDF + b"% lipids\n")
    mails_before = len(portal.outbox(patient.email))
    export_id = patient.api.post("/api/me/exports").json()["id"]

    # When the job has run and the patient fetches the link
    _ready(patient, export_id)

    # Then one mail tells them it is ready, naming nothing medical
    mails = portal.outbox(patient.email)[mails_before:]
    [mail] = [m for m in mails if "records" in m["subject"]]
    assert "/profile/records" in mail["text"]
    for secret in (LAB, "Lipid", export_id):
        assert secret not in mail["text"] and secret not in mail["html"] and secret not in mail["subject"]

    # And the request, the build and the link handed out are in the patient's audit trail
    events = admin.get(f"/api/staff/audit?patient_id={patient.id}").json()["events"]
    actions = {(e["action"], e.get("target_id")) for e in events}
    assert {("export.request", export_id), ("export.build", export_id), ("export.download", export_id)} <= actions


def test_a_spanish_patients_index_is_in_spanish(portal, staff):
    # Given a patient whose language is Spanish, with a document
    patient = portal.new_patient(staff, language="es")
    _upload(staff, patient, "Análisis de sangre", PDF + b"% sangre\n")

    # When their export is ready
    export_id = patient.api.post("/api/me/exports").json()["id"]
    archive = _zip(_ready(patient, export_id)["url"])

    # Then its index page is in Spanish, and the bundle says the patient's language
    index = archive.read("index.html").decode()
    assert '<html lang="es">' in index and "Mis registros de salud" in index and "Documentos" in index
    assert "Análisis de sangre" in index
    data = json.loads(archive.read("bundle.json"))
    patient_resource = next(e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient_resource["communication"][0]["language"]["coding"][0]["code"] == "es"


def test_another_patients_export_answers_404_like_an_unknown_id(portal, staff):
    # Given a patient's export, ready
    owner = portal.new_patient(staff)
    export_id = owner.api.post("/api/me/exports").json()["id"]
    _ready(owner, export_id)
    other = portal.new_patient(staff)

    # When another patient asks for it, and for an id that does not exist
    theirs = other.api.get(f"/api/me/exports/{export_id}")
    unknown = other.api.get("/api/me/exports/exp_0123456789abcdef0123456789abcdef")

    # Then both are the same 404, with no link
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"] == unknown.json()["error"] == "not_found"
    assert "url" not in theirs.text


def test_only_patients_may_ask_for_an_export(portal, staff, admin):
    # Given the office's accounts
    # When staff and an admin ask for an export
    answers = [staff.post("/api/me/exports"), admin.post("/api/me/exports")]

    # Then each is refused with 403
    assert [a.status_code for a in answers] == [403, 403]
    assert all(a.json()["error"] == "forbidden" for a in answers)


def test_an_empty_record_still_gives_a_valid_bundle_and_index(portal, staff):
    # Given a patient with no documents or messages
    patient = portal.new_patient(staff)

    # When their export is ready
    export_id = patient.api.post("/api/me/exports").json()["id"]
    archive = _zip(_ready(patient, export_id)["url"])

    # Then it holds the Patient alone, and an index that says there is nothing yet
    data = json.loads(archive.read("bundle.json"))
    Bundle.model_validate(data)
    assert [e["resource"]["resourceType"] for e in data["entry"]] == ["Patient"]
    assert "You have no documents in the portal." in archive.read("index.html").decode()
    assert sorted(archive.namelist()) == ["bundle.json", "index.html"]


def test_an_export_is_gone_after_seven_days(portal, staff, clock):
    # Given a patient's export, ready
    patient = portal.new_patient(staff)
    export_id = patient.api.post("/api/me/exports").json()["id"]
    _ready(patient, export_id)

    # When 7 days have passed (and they sign in again)
    clock.travel_to(clock.now() + timedelta(days=7, minutes=1))
    api = portal.signed_in(patient.username, patient.password)

    # Then it answers 404 like an unknown id
    answer = api.get(f"/api/me/exports/{export_id}")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"
