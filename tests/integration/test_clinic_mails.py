"""Mails that cannot be mistaken for phishing, over HTTP on the local stack: every mail a patient and
their caregiver get through the real flows (the invitation, the password change, a new document,
a password reset, a caregiver's invitation and the patient's notice of it), in English and in
Spanish, comes from the clinic's name, names the clinic and the kind of thing in its subject, and
ends with the clinic's phone and address and the line that it never asks for a password by email.
(Every template, in both languages, is checked in tests/unit/test_mail_spanish.py.)"""

from __future__ import annotations

from email.utils import parseaddr

import pytest

from chalicelib.clock import clock as portal_clock
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.support.followup import publish_item
from tests.support.http import unique_email

NEVER = {"en": "We never ask for your password by email. To check this message, call us at {phone}.",
         "es": "Nunca le pedimos su contraseña por correo electrónico. Para confirmar este mensaje, llámenos al {phone}."}
# The kinds each flow below mails the patient, and what each subject says of its kind.
SUBJECT_SAYS = {
    "en": {"invitation": "account is ready", "password_changed": "password was changed",
           "item_notice": "new document", "password_reset": "temporary password",
           "caregiver_changed": "caregiver access"},
    "es": {"invitation": "está lista", "password_changed": "se cambió la contraseña",
           "item_notice": "nuevo documento", "password_reset": "contraseña temporal",
           "caregiver_changed": "acceso de un cuidador"},
}


@pytest.fixture(scope="module", params=["en", "es"])
def mails(request, portal, staff) -> tuple[str, dict[str, list[dict]], list[dict]]:
    """A patient in the language, through the flows that mail them and their new caregiver; the
    mails each got, by kind. (The caregiver's own mails are in the caregiver's language: English,
    as a new caregiver account has no other yet.)"""
    language = request.param
    patient = portal.new_patient(staff, name="Leonor Benavides Ortiz", language=language)
    publish_item(patient.id, portal_clock.now(), title="Thyroid panel")
    assert portal.public.post("/api/auth/forgot-password", json={"username": patient.username}).status_code == 202
    pump.drain()
    caregiver = unique_email("caregiver")
    granted = patient.api.post("/api/me/proxies", json={"name": "Pilar Ortiz", "email": caregiver,
                                                        "relationship": "daughter", "scope": "read"})
    assert granted.status_code == 201, granted.text
    by_kind: dict[str, list[dict]] = {}
    for mail in portal.outbox(patient.email):
        by_kind.setdefault(mail["kind"], []).append(mail)
    return language, by_kind, portal.outbox(caregiver)


def test_each_kind_of_mail_names_the_clinic_and_the_kind_in_its_subject(mails):
    # Given the mails of a patient's flows, in their language
    language, by_kind, _ = mails
    clinic = get_settings().clinic_name
    # Then every kind was mailed, each subject names the clinic and says what kind of thing it is
    assert set(SUBJECT_SAYS[language]) <= set(by_kind), sorted(by_kind)
    for kind, says in SUBJECT_SAYS[language].items():
        for mail in by_kind[kind]:
            assert clinic in mail["subject"] and says in mail["subject"], (kind, mail["subject"])
    # And nothing the document holds is in any subject
    assert not any("Thyroid" in mail["subject"] for found in by_kind.values() for mail in found)


def test_each_mail_comes_from_the_clinic_and_ends_with_its_phone_address_and_the_password_line(mails):
    # Given the same mails
    language, by_kind, caregiver_mails = mails
    settings = get_settings()
    never = NEVER[language].format(phone=settings.clinic_phone)
    for kind, found in by_kind.items():
        for mail in found:
            # Then the From display name is the clinic's, at the portal's address
            assert parseaddr(mail["from"]) == (settings.clinic_name, settings.mail_from), kind
            # And the text and the HTML end with the phone, the address and the line about passwords
            for part in (mail["text"], " ".join(mail["html"].split())):
                assert settings.clinic_phone in part and settings.clinic_address in part and never in part, kind
    # And so do the caregiver's, in the caregiver's language
    for mail in caregiver_mails:
        assert parseaddr(mail["from"]) == (settings.clinic_name, settings.mail_from)
        assert NEVER["en"].format(phone=settings.clinic_phone) in mail["text"]


def test_a_caregivers_invitation_names_the_clinic_and_the_patients_first_name_only(mails):
    # Given the caregiver's invitation
    _, _, caregiver_mails = mails
    [invitation] = [mail for mail in caregiver_mails if mail["kind"] == "caregiver_invitation"]
    text, clinic = invitation["text"], get_settings().clinic_name
    # Then its subject and text name the clinic and the patient's first name, never the whole name
    assert invitation["subject"] == f"{clinic}: Leonor gave you caregiver access in the patient portal"
    assert f"Leonor has given you access to their records in the patient portal of {clinic}" in text
    assert "Benavides" not in text + invitation["html"] + invitation["subject"]
    assert "Temporary password: " in text
