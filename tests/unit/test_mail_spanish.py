"""Every mail template, rendered in both languages: the subject names the clinic, the From display
name is the clinic's, the footer holds its phone and address and the line that the clinic never
asks for a password by email; and a Spanish mail holds no English sentence of the catalog (a
string left out of `_()` / `{% trans %}`, or an English line kept beside its translation)."""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from chalicelib.mail import sender
from chalicelib.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "chalicelib/locale/es/LC_MESSAGES/messages.po"
TEMPLATES = sorted(path.stem for path in (ROOT / "chalicelib/mail/templates").glob("*.txt")
                   if not path.stem.startswith("_"))

# Every value any template may name, so every branch that shows text is rendered.
CONTEXT = {
    "username": "ramona4821", "temporary_password": "Kq7m-Tz2p-Hx9w-Rb4n", "hours": 168,
    "locked_until": "2026-11-25T19:08:06Z", "is_new_address": True, "change": "granted",
    "since": "2026-11-24T12:00:00Z", "as_of": "2026-11-25T12:00:00Z", "read_since_last": 3,
    "unread_in_follow_up": 2, "escalated_open": 1, "escalated_since_last": 1, "bad_emails": 0,
    "queue_url": "https://portal.example/staff/queue", "inbox_url": "https://portal.example/staff/inbox",
    "patient_first_name": "Leo", "item_kind": "result", "reminder": False,
}
WORD = re.compile(r"[A-Za-z]+")


def _english_sentences() -> list[str]:
    """The catalog's English entries a Spanish reader must never see: those whose translation is
    different, of three words or more, without their placeholders (each part of four words or more)."""
    with PO.open("rb") as f:
        catalog = read_po(f, locale="es")
    found = set()
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        for english in ids:
            if english in strings:
                continue
            for part in re.split(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}|<[^>]+>", english):
                part = part.strip(" .,:;")
                if len(WORD.findall(part)) >= 3:
                    found.add(part)
    return sorted(found)


ENGLISH = _english_sentences()


def _rendered(template: str, language: str, **extra) -> tuple[str, str, str]:
    subject, text, html = sender.render(template, language, **{**CONTEXT, **extra})
    return subject, text, re.sub(r"<[^>]+>", " ", html)


def _variants(template: str) -> list[dict]:
    """The branches a template has: every kind of item notice, first and reminder."""
    if template == "item_notice":
        return [{"item_kind": kind, "reminder": reminder} for kind in ("document", "result", "message")
                for reminder in (False, True)]
    if template == "caregiver_changed":
        return [{"change": change} for change in ("granted", "changed", "revoked")]
    return [{}]


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_spanish_mail_holds_no_english_sentence_of_the_catalog(template):
    # Given a mail template, rendered in Spanish in every one of its branches
    for variant in _variants(template):
        subject, text, html = _rendered(template, "es", **variant)
        # Then no English sentence of the catalog is in its subject, its text or its HTML
        for part in (subject, text, " ".join(html.split())):
            slipped = [english for english in ENGLISH if english in " ".join(part.split())]
            assert slipped == [], f"{template} {variant}: English in a Spanish mail: {slipped}"
        # and the temporary password's line, when there is one, is Spanish too
        assert "Temporary password" not in text + html
        if "{{ temporary_password }}" in (Path(sender._TEMPLATES) / f"{template}.txt").read_text():
            assert f"Contraseña temporal: {CONTEXT['temporary_password']}" in text


def test_the_check_finds_an_english_sentence_left_in_a_spanish_mail():
    # Given a Spanish mail with an English sentence of the catalog left in it
    left = "Please sign in to view it"
    # Then the list of English sentences holds it, so the check above would find it
    assert left in ENGLISH and any(len(WORD.findall(english)) >= 3 for english in ENGLISH)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_mail_names_the_clinic_in_its_sender_subject_and_footer(template, language):
    # Given the clinic's settings and a mail in a language
    settings = get_settings()
    message = sender.build("someone@example.com", template, language, **CONTEXT)
    subject, text, html = _rendered(template, language)

    # Then its From display name is the clinic's, at the portal's sending address
    assert parseaddr(str(message["From"])) == (settings.clinic_name, settings.mail_from)
    assert message["X-Portal-Mail"] == template
    # And its subject names the clinic
    assert settings.clinic_name in subject
    # And its footer holds the clinic's phone and address, and that it never asks for a password by mail
    never = {"en": f"We never ask for your password by email. To check this message, call us at {settings.clinic_phone}.",
             "es": f"Nunca le pedimos su contraseña por correo electrónico. Para confirmar este mensaje, "
                   f"llámenos al {settings.clinic_phone}."}[language]
    for part in (text, " ".join(html.split())):
        assert settings.clinic_phone in part and settings.clinic_address in part and never in part


def test_item_notice_subjects_say_what_kind_of_item_arrived_and_never_what_it_holds():
    # Given an item notice for each kind of item, first and reminder, in English and Spanish
    subjects = {(kind, reminder, language): sender.subject("item_notice", language, item_kind=kind, reminder=reminder)
                for kind in ("document", "result", "message") for reminder in (False, True)
                for language in ("en", "es")}

    # Then each names its kind, a reminder says so, and no two kinds share a subject
    clinic = get_settings().clinic_name
    assert subjects[("result", False, "en")] == f"{clinic}: new test result in your patient portal"
    assert subjects[("message", False, "en")] == f"New message from {clinic} in your patient portal"
    assert subjects[("document", True, "en")].startswith(f"Reminder from {clinic}")
    assert subjects[("document", False, "es")] == f"{clinic}: nuevo documento en su portal del paciente"
    assert subjects[("message", False, "es")] == f"Nuevo mensaje de {clinic} en su portal del paciente"
    assert len(set(subjects.values())) == len(subjects)


def test_spanish_plurals_come_from_the_catalog():
    # Given the office's digest with one and with two new escalations, in Spanish
    one = _rendered("office_digest", "es", escalated_since_last=1)[1]
    two = _rendered("office_digest", "es", escalated_since_last=2)[1]
    # Then each agrees with its number: no "1 nuevos"
    assert "(1 nuevo desde el último informe)" in one and "1 nuevos" not in one
    assert "(2 nuevos desde el último informe)" in two
