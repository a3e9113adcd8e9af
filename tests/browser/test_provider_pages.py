"""A provider in Chromium: signs in with their second factor, opens "Results to review" from the
office's home, reviews a result with a comment, and the patient reads the comment as their
provider's, in English and in Spanish. Every page is checked by axe-core and the CSP as it is visited."""

from __future__ import annotations

import secrets

import pytest

from tests.browser.conftest import signed_in
from tests.browser.test_patient_journey import sign_in
from tests.browser.test_result_pages import BORN, drop, glucose, own_results
from tests.support.lifecycle import new_member

pytestmark = pytest.mark.browser


def test_a_provider_reviews_with_a_comment_and_the_patient_reads_it_as_their_providers(portal, admin, staff,
                                                                                      open_browser):
    # Given a provider with an NPI (their authenticator app set up) and a high glucose result they ordered
    tag = secrets.token_hex(3)
    npi = "1" + "".join(secrets.choice("0123456789") for _ in range(9))
    provider = new_member(portal, admin, "provider", name=f"Kofi Osei{tag}", prefix="doc", npi=npi)
    patient = portal.new_patient(staff, name=f"Ida Lab {tag}", date_of_birth=BORN)
    drop(glucose(patient.mrn, b"182", b"200202150730").replace(b"555-55-5555^PRIMARY^PATRICIA P",
                                                                f"{npi}^OSEI{tag}^KOFI".encode()))
    result_id = own_results(staff, patient)["GLUCOSE"]

    # When the provider signs in (password, then the code from their app) and opens Results to review
    browser = signed_in(open_browser, provider.username, provider.password)
    assert browser.path == "/staff"
    browser.follow("Results to review")

    # Then their result is listed with its patient, its flag count and its test
    row = browser.page.locator(f"article[data-result-id='{result_id}']")
    assert patient.name in row.inner_text() and "GLUCOSE" in row.inner_text()
    assert row.locator("[data-flags]").inner_text() == "1"

    # When they review it with a comment for the patient
    row.get_by_label("Comment for the patient").fill("A little high: let us repeat it in three months.")
    with browser.page.expect_navigation():
        row.get_by_role("button", name="Mark reviewed").click()
    browser.visited()

    # Then it has left their list
    assert browser.path == "/provider/results"
    assert browser.page.locator(f"article[data-result-id='{result_id}']").count() == 0

    # And the patient reads the comment under the provider's name, as their provider's
    reader = open_browser()
    sign_in(reader, patient.username, patient.password)
    reader.go(f"/results/{result_id}")
    assert "A little high: let us repeat it in three months." in reader.text()
    assert f"Kofi Osei{tag}, your provider" in reader.text()

    # And in Spanish too
    assert patient.api.put("/api/me/language", json={"language": "es"}).status_code == 200
    reader.go(f"/results/{result_id}")
    assert f"Kofi Osei{tag}, su proveedor" in reader.text() and "Comentarios" in reader.text()
