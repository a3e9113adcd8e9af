"""Phone numbers as people write them, read by `phonenumbers` into E.164 (the clinic's country for
national numbers), and the words of a notice by text message: one SMS segment, in the GSM
alphabet, in English and Spanish, nothing medical."""

from __future__ import annotations

import pytest

from chalicelib.errors import BadRequest
from chalicelib.mail import texts
from chalicelib.services.accounts import phone
from chalicelib.settings import get_settings


@pytest.mark.parametrize(("typed", "stored"), [
    ("(919) 555-0142", "+19195550142"),
    ("919-555-0142", "+19195550142"),
    ("919.555.0142", "+19195550142"),
    ("+1 919 555 0142", "+19195550142"),
    ("1 (919) 555 0142", "+19195550142"),
    ("  (919)555-0142 ", "+19195550142"),
])
def test_a_number_written_as_people_write_it_is_stored_in_e164(typed, stored):
    # Given a US number written one of the usual ways / Then it is stored in E.164, shown the US way
    assert phone.valid(typed) == stored
    assert phone.shown(stored) == "(919) 555-0142"


@pytest.mark.parametrize(("typed", "why"), [
    ("55555", "in use"),  # a short code
    ("911", "in use"),
    ("(900) 555-0142", "Premium-rate"),
    ("1-976-555-0123", "in use"),
    ("+44 20 7946 0958", "this country (US)"),
    ("call me maybe", "Not a phone number"),
    ("(555) 010-2030", "in use"),
    ("9" * 41, "at most 40"),
])
def test_a_number_that_is_not_one_a_patient_has_is_refused_naming_the_field(typed, why):
    # Given a short code, a premium-rate or foreign number, or no number at all
    with pytest.raises(BadRequest) as refused:
        phone.valid(typed, field="phone")
    # Then it is 400 invalid_phone, naming the field and why
    assert refused.value.code == "invalid_phone" and refused.value.field == "phone"
    assert refused.value.message.startswith("phone: ") and why.lower() in refused.value.message.lower()


def test_blank_is_no_number_and_only_mobile_numbers_take_texts():
    # Given blank, a US number (mobile or not, the plan does not say), toll-free, and nothing
    assert phone.valid("  ") is None and phone.valid(None) is None
    # Then a US number may take texts, a toll-free one may not, and no number takes none
    assert phone.can_take_texts("+19195550142")
    assert not phone.can_take_texts("+18005550100")
    assert not phone.can_take_texts(None) and not phone.can_take_texts("not a number")
    # and a number stored before E.164 is shown as it was typed
    assert phone.shown("555 010 4477 ext 2") == "555 010 4477 ext 2"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", ["document", "result", "message"])
@pytest.mark.parametrize("reminder", [False, True])
def test_a_notice_by_text_names_the_clinic_and_the_portal_in_one_segment(language, kind, reminder):
    # Given the words of a notice by text for a kind of item, in a language
    words = texts.item_text(language, kind, reminder)
    settings = get_settings()

    # Then it names the clinic and the portal, honours STOP, and fits one GSM-7 segment
    assert words.startswith(settings.clinic_name) or words.startswith("Recordatorio de " + settings.clinic_name)
    assert settings.portal_url in words and "STOP" in words
    assert texts.segments(words) == 1, (len(words), words)
    assert all(char in texts.GSM_BASIC or char in texts.GSM_EXTENSION for char in words)


def test_characters_outside_the_gsm_alphabet_lose_their_accent_and_segments_are_counted():
    # Given Spanish words with accents SMS's GSM alphabet lacks, and some it has
    assert texts.gsm7("Clínica Río: tiene un análisis. ¿Ñandú? Él “sí”") == 'Clinica Rio: tiene un analisis. ¿Ñandu? Él "si"'
    # Then lengths count in GSM-7 (160, then 153 a part) or UCS-2 (70, then 67)
    assert texts.segments("a" * 160) == 1 and texts.segments("a" * 161) == 2 and texts.segments("a" * 307) == 3
    assert texts.segments("€" * 80) == 1 and texts.segments("€" * 81) == 2  # € counts twice
    assert texts.segments("ł" * 70) == 1 and texts.segments("ł" * 71) == 2
