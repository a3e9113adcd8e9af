"""A patient's language (English or Spanish), over HTTP on the local stack: chosen in the API and on
My Profile, set by the office at registration; every mail to a Spanish patient is Spanish with
`Content-Language: es` and `<html lang="es">`; signed-out pages follow the browser's
Accept-Language and offer a switch that a cookie remembers."""

from __future__ import annotations

import re

import pytest
import requests

from chalicelib.clock import clock as portal_clock
from chalicelib.localstack import pump
from chalicelib.mail import outbox_reader
from chalicelib.settings import get_settings
from tests.support.followup import publish_item
from tests.support.pages import page_csrf, signed_in_pages

SPANISH_FOOTER = "Por su privacidad, este correo no incluye ninguna información médica."


def mails_with_headers(portal, email: str) -> list[tuple[dict, dict]]:
    """Each mail to an address (subject, text, html) beside its headers, oldest first."""
    return list(zip(portal.outbox(email), outbox_reader.headers(email), strict=True))


CLINIC = get_settings().clinic_name  # every subject names the clinic


def last_mail(portal, email: str, subject: str) -> tuple[dict, dict]:
    found = [(m, h) for m, h in mails_with_headers(portal, email) if m["subject"] == subject]
    assert found, f"no mail {subject!r} to {email}: {[m['subject'] for m in portal.outbox(email)]}"
    return found[-1]


def assert_spanish(mail: dict, headers: dict) -> None:
    assert headers["Content-Language"] == "es"
    assert '<html lang="es">' in mail["html"]
    assert SPANISH_FOOTER in mail["text"] and SPANISH_FOOTER in mail["html"]
    assert "This is an automated message" not in mail["text"] + mail["html"]


@pytest.fixture
def spanish_patient(portal, staff):
    return portal.new_patient(staff, language="es")


# ---------------------------------------------------------------- the patient's language

def test_the_patient_chooses_the_language_in_the_api(portal, staff):
    # Given a patient registered without a language
    patient = portal.new_patient(staff)
    assert patient.api.get("/api/me").json()["language"] == "en"

    # When they choose Spanish / Then the answer and /api/me say so
    chosen = patient.api.put("/api/me/language", json={"language": "es"})
    assert (chosen.status_code, chosen.json()) == (200, {"language": "es"})
    assert patient.api.get("/api/me").json()["language"] == "es"

    # And anything else is a 400 that changes nothing
    for bad in ({"language": "fr"}, {"language": ""}, {}, {"language": ["es"]}):
        refused = patient.api.put("/api/me/language", json=bad)
        assert refused.status_code == 400, bad
    assert patient.api.get("/api/me").json()["language"] == "es"


def test_staff_set_the_language_at_registration_and_it_is_kept(portal, staff, spanish_patient):
    # Given a patient registered in Spanish / Then their account says so, and the invitation was Spanish
    assert spanish_patient.api.get("/api/me").json()["language"] == "es"
    invitation, headers = last_mail(portal, spanish_patient.email, f"{CLINIC}: su cuenta del portal del paciente está lista")
    assert_spanish(invitation, headers)
    assert "Contraseña temporal:" in invitation["text"]


# ---------------------------------------------------------------- mails in the patient's language

def test_a_spanish_patients_notice_is_spanish_with_its_headers(portal, spanish_patient):
    # Given a Spanish-speaking patient / When a document is published for them
    publish_item(spanish_patient.id, portal_clock.now(), title="Hemoglobina A1c")

    # Then the notice is Spanish, says so in its headers, and names no result
    notice, headers = last_mail(portal, spanish_patient.email, f"{CLINIC}: nuevo documento en su portal del paciente")
    assert_spanish(notice, headers)
    assert "Tiene un nuevo documento en su portal del paciente." in notice["text"]
    assert "Hemoglobina" not in notice["text"] + notice["html"]


def test_an_english_patients_notice_stays_english(portal, staff):
    # Given a patient registered without a language / When a document is published
    patient = portal.new_patient(staff)
    publish_item(patient.id, portal_clock.now())
    # Then the notice is English and says so
    notice, headers = last_mail(portal, patient.email, f"{CLINIC}: new document in your patient portal")
    assert headers["Content-Language"] == "en" and '<html lang="en">' in notice["html"]


def test_a_spanish_patients_reset_mail_is_spanish_and_keeps_the_contract_line(portal, spanish_patient):
    # Given a Spanish-speaking patient who forgot their password
    asked = portal.public.post("/api/auth/forgot-password", json={"username": spanish_patient.username})
    assert asked.status_code == 202
    pump.drain()

    # Then the reset mail is Spanish, with the temporary password in Spanish and on the contract's line
    reset, headers = last_mail(portal, spanish_patient.email, f"{CLINIC}: su contraseña temporal del portal del paciente")
    assert_spanish(reset, headers)
    assert re.search(r"^Contraseña temporal: (\S+)$", reset["text"], re.M)
    assert "Temporary password" not in reset["text"]
    assert "Alguien pidió restablecer la contraseña" in reset["html"]


def test_a_spanish_patients_lock_mail_is_spanish_with_the_time_in_spanish(portal, spanish_patient):
    # Given a Spanish-speaking patient / When five wrong passwords lock the account
    for _ in range(5):
        portal.login(spanish_patient.username, "wrong-" + spanish_patient.password)

    # Then the lock mail is Spanish, with the time on the 24-hour clock in the clinic's zone
    locked, headers = last_mail(portal, spanish_patient.email, f"{CLINIC}: su cuenta del portal del paciente se bloqueó")
    assert_spanish(locked, headers)
    assert re.search(r"a partir del \d{1,2} \w+\.? \d{4}, \d{1,2}:\d{2} E[SD]T", locked["text"]), locked["text"]


# ---------------------------------------------------------------- signed-out pages

def page(portal, path: str = "/sign-in", session: requests.Session | None = None, **headers) -> requests.Response:
    answer = (session or requests).get(portal.base_url + path, headers=headers, timeout=30)
    assert answer.status_code == 200
    return answer


@pytest.mark.parametrize(("accept_language", "lang"), [
    ("es", "es"),
    ("es-MX,es;q=0.9,en;q=0.8", "es"),
    ("en;q=0.4, es;q=0.9", "es"),    # q-values, not the order, decide
    ("fr-FR, es-US;q=0.5", "es"),    # a language the portal lacks is passed over
    ("es;q=0, en", "en"),            # q=0 means "not this one"
    ("de, fr", "en"),                # none of ours: English
    ("", "en"),
])
def test_signed_out_pages_follow_accept_language(portal, accept_language, lang):
    # Given a browser that sends Accept-Language / When it opens the sign-in page
    answer = page(portal, **{"Accept-Language": accept_language})
    # Then the page is in the best of the portal's languages, and says so
    assert f'<html lang="{lang}">' in answer.text and answer.headers["Content-Language"] == lang
    heading = {"es": "Inicie sesión en su portal del paciente", "en": "Sign in to your patient portal"}[lang]
    assert heading in answer.text


def test_the_switch_on_a_signed_out_page_changes_the_language_and_is_remembered(portal):
    # Given a browser that prefers Spanish, on the forgot-password page
    browser = requests.Session()
    spanish = page(portal, "/forgot-password", browser, **{"Accept-Language": "es"})
    assert '<html lang="es">' in spanish.text and "Olvidé mi contraseña" in spanish.text

    # Then the page offers a visible link to English (no JavaScript), marked with its language
    switch = re.search(r'<a href="([^"]+)" lang="en" hreflang="en" data-testid="language-switch">English</a>', spanish.text)
    assert switch and switch.group(1) == "/forgot-password?lang=en"

    # When the link is followed / Then the page is English and a cookie keeps the choice
    english = page(portal, switch.group(1), browser, **{"Accept-Language": "es"})
    assert '<html lang="en">' in english.text and "Forgot password" in english.text
    assert browser.cookies.get("portal_lang") == "en"
    assert 'hreflang="es" data-testid="language-switch">Español</a>' in english.text

    # And other signed-out pages stay English for this browser, whatever it prefers
    again = page(portal, "/sign-in", browser, **{"Accept-Language": "es"})
    assert '<html lang="en">' in again.text


def test_a_signed_out_form_error_is_in_the_pages_language(portal):
    # Given a Spanish browser on the sign-in page / When the form is sent empty
    browser = requests.Session()
    form = page(portal, "/sign-in", browser, **{"Accept-Language": "es"})
    sent = browser.post(portal.base_url + "/sign-in", data={"csrf_token": page_csrf(form.text)},
                        headers={"Accept-Language": "es"}, timeout=30)
    # Then the field errors are Spanish
    assert "Este campo es obligatorio." in sent.text and "This field is required." not in sent.text


def test_an_email_address_refused_on_a_spanish_page_is_explained_in_spanish(portal):
    # Given a Spanish browser on the forgot-username form
    browser = requests.Session()
    form = page(portal, "/forms/forgot-username", browser, **{"Accept-Language": "es"})

    # When it is sent with an address email-validator refuses (its own words are English)
    sent = browser.post(portal.base_url + "/forms/forgot-username", timeout=30, headers={"Accept-Language": "es"},
                        data={"csrf_token": page_csrf(form.text), "name": "Rosa Delgado",
                              "date_of_birth": "04/30/1980", "email": "rosa@@example.com"})

    # Then the field says so in Spanish, and none of the library's English reaches the page
    assert sent.status_code == 400
    assert "No es una dirección de correo electrónico válida" in sent.text
    assert "not a valid email address" not in sent.text and "@-sign" not in sent.text

    # And in English the page keeps the detailed reason
    english = requests.Session()
    form = page(portal, "/forms/forgot-username", english, **{"Accept-Language": "en"})
    sent = english.post(portal.base_url + "/forms/forgot-username", timeout=30, headers={"Accept-Language": "en"},
                        data={"csrf_token": page_csrf(form.text), "name": "Rosa Delgado",
                              "date_of_birth": "04/30/1980", "email": "rosa@@example.com"})
    assert sent.status_code == 400 and "Not a valid email address (" in sent.text


# ---------------------------------------------------------------- My Profile

def test_my_profile_changes_the_language_of_the_pages(portal, staff):
    # Given a patient signed in on the pages, in English
    patient = portal.new_patient(staff)
    pages = signed_in_pages(portal.base_url, patient.username, patient.password)
    profile = pages.get(portal.base_url + "/profile", timeout=30)
    assert '<html lang="en">' in profile.text and "My Profile" in profile.text

    # When they choose Spanish on My Profile (a plain form post)
    saved = pages.post(portal.base_url + "/profile/language", timeout=30,
                       data={"language": "es", "csrf_token": page_csrf(profile.text)})

    # Then My Profile, and every page after it, is Spanish, whatever the browser prefers
    assert saved.status_code == 200 and saved.url.split("#")[0] == portal.base_url + "/profile"
    assert '<html lang="es">' in saved.text and "Mi perfil" in saved.text and "Se guardó su idioma." in saved.text
    home = pages.get(portal.base_url + "/", headers={"Accept-Language": "en"}, timeout=30)
    assert '<html lang="es">' in home.text and "Mis documentos" in home.text
    assert "Se guardó su idioma." not in home.text  # the notice is shown once
    assert patient.api.get("/api/me").json()["language"] == "es"

    # And a language the portal lacks is refused on the page, in the page's language
    refused = pages.post(portal.base_url + "/profile/language", timeout=30,
                         data={"language": "fr", "csrf_token": page_csrf(saved.text)})
    assert refused.status_code == 400 and '<html lang="es">' in refused.text
    assert "Elija uno de los valores que se ofrecen." in refused.text


def test_an_error_page_for_a_browser_address_is_in_the_browsers_language(portal):
    # Given a Spanish browser / When it asks for an address the portal does not have
    answer = requests.get(portal.base_url + "/no-such-page", headers={"Accept-Language": "es"}, timeout=30)
    # Then the 404 page is Spanish and says so
    assert answer.status_code == 404
    assert '<html lang="es">' in answer.text and "Página no encontrada" in answer.text
    assert "No hay ninguna página en esta dirección." in answer.text


def test_a_spanish_patients_first_sign_in_asks_for_a_new_password_in_spanish(portal, staff):
    # Given a patient registered in Spanish, with the invitation's temporary password
    patient = portal.register_patient(staff, language="es")
    temporary = portal.last_temporary_password(patient.email)
    browser = requests.Session()
    form = page(portal, "/sign-in", browser, **{"Accept-Language": "en"})

    # When they sign in with it on the pages, from a browser set to English
    landed = browser.post(portal.base_url + "/sign-in", timeout=30, headers={"Accept-Language": "en"},
                          data={"username": patient.username, "password": temporary, "csrf_token": page_csrf(form.text)})

    # Then the forced password change is already in their language
    assert landed.url.endswith("/password")
    assert '<html lang="es">' in landed.text and "Elija una contraseña nueva" in landed.text
