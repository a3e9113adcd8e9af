"""The portal in Spanish, in a browser: a patient chooses Spanish on My Profile (and when they see
their results, in both languages) and the portal answers in it from then on; a browser set to
Spanish gets the signed-out pages in Spanish and can switch to English with a link. Every page is
checked by axe-core (its `lang` included)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import DESKTOP, Browser

pytestmark = pytest.mark.browser


def test_a_patient_chooses_spanish_on_my_profile(portal, staff, open_browser):
    # Given a patient signed in, in English
    patient = portal.new_patient(staff, name="Lucía Idioma")
    browser: Browser = open_browser()
    browser.go("/sign-in")
    browser.fill({"Username": patient.username, "Password": patient.password})
    browser.submit("Sign in")
    browser.go("/profile")
    assert browser.page.locator("html").get_attribute("lang") == "en"

    # When they choose to see results after their provider reviews them, and save
    browser.page.get_by_label("After my provider reviews them").check()
    browser.submit("Save when I see my results")

    # Then the choice is saved, without JavaScript, and shown as chosen
    assert "Your choice of when results are released to you has been saved." in browser.text()
    assert browser.page.get_by_label("After my provider reviews them").is_checked()
    assert patient.api.get("/api/me").json()["result_release"] == "after_review"

    # When they choose Español under Language and save
    browser.page.get_by_label("Language for the portal and its emails").select_option("es")
    browser.submit("Save language")

    # Then My Profile answers in Spanish, says so to assistive technology, and keeps the choice selected
    assert browser.page.locator("html").get_attribute("lang") == "es"
    assert browser.page.get_by_role("heading", level=1).inner_text() == "Mi perfil"
    assert "Se guardó su idioma." in browser.text()
    assert browser.page.get_by_label("Idioma del portal y de sus correos").input_value() == "es"
    assert browser.page.get_by_role("button", name="Cerrar sesión", exact=True).is_visible()
    # And the choice of when results are shown is Spanish too: back to as soon as they arrive
    browser.page.get_by_label("En cuanto lleguen").check()
    browser.submit("Guardar cuándo veo mis resultados")
    assert "Se guardó su elección de cuándo se le entregan los resultados." in browser.text()
    assert patient.api.get("/api/me").json()["result_release"] == "immediately"

    # And the other pages follow: the home page and the navigation are Spanish
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="Mis documentos").click()
    browser.visited()
    assert browser.page.locator("html").get_attribute("lang") == "es"
    assert "Hola, Lucía Idioma" in browser.text()
    assert patient.api.get("/api/me").json()["language"] == "es"


def test_a_spanish_browser_gets_spanish_signed_out_pages_and_a_switch(chromium, portal):
    # Given a browser whose language is Spanish (it sends Accept-Language: es-ES)
    context = chromium.new_context(viewport=DESKTOP, locale="es-ES")
    try:
        browser = Browser(context.new_page(), portal.base_url)
        browser.page.on("console", lambda msg: browser.csp_violations.append(msg.text)
                        if "Content Security Policy" in msg.text else None)
        # When it opens the sign-in page / Then the page is Spanish
        browser.go("/sign-in")
        assert browser.page.locator("html").get_attribute("lang") == "es"
        assert browser.page.get_by_role("heading", level=1).inner_text() == "Inicie sesión en su portal del paciente"

        # When the visitor follows the visible English link / Then the page is English, and stays so
        with browser.page.expect_navigation():
            browser.page.get_by_role("link", name="English").click()
        browser.visited()
        assert browser.page.locator("html").get_attribute("lang") == "en"
        assert browser.page.get_by_role("heading", level=1).inner_text() == "Sign in to your patient portal"
        browser.go("/forgot-password")
        assert browser.page.locator("html").get_attribute("lang") == "en"
        assert browser.page.get_by_role("link", name="Español").is_visible()
    finally:
        context.close()
