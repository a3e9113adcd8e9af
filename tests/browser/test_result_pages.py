"""Lab results in Chromium: the patient's result (values, units, ranges, flags in words, a range bar
per numeric value, the lab's notes, a preliminary result said so), a test's trend (the server's
SVG chart with its reference band and the same numbers as a table), in English and Spanish, on a
desktop and on a 390 px phone; and the office's result, critical call and quarantined message.
Every page is checked by axe-core and the Content-Security-Policy as it is visited; none runs a script."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest

from chalicelib import aws
from chalicelib.localstack import pump
from chalicelib.settings import get_settings
from tests.browser.conftest import PHONE
from tests.browser.test_patient_journey import sign_in
from tests.browser.test_staff_journey import staff_signs_in
from tests.fixtures.lab import personalised
from tests.support.followup import queue_list

pytestmark = pytest.mark.browser
BORN = "1962-03-20"


def drop(data: bytes) -> None:
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=f"lab/{secrets.token_hex(4)}/r.hl7", Body=data)
    pump.drain()


def glucose(mrn: str, value: bytes, collected: bytes) -> bytes:
    return personalised("normative_glucose.hl7", [mrn], secrets.token_hex(3)).replace(
        b"|^182|", b"|^" + value + b"|").replace(b"200202150730", collected)


def own_results(staff, patient) -> dict[str, str]:
    """Result id by title: of two results of one test, the later one by the lab's own times (results
    published at one moment of the portal's clock tie on created_at)."""
    items = staff.get(f"/api/staff/patients/{patient.id}").json()["items"]
    newest: dict[str, tuple[tuple[str, str], str]] = {}
    for item in (i for i in items if i["kind"] == "result"):
        detail = staff.get(f"/api/staff/results/{item['id']}").json()
        when = (detail.get("collected_at") or "", detail.get("reported_at") or "")
        if item["title"] not in newest or when > newest[item["title"]][0]:
            newest[item["title"]] = (when, item["id"])
    return {title: result_id for title, (_, result_id) in newest.items()}


def test_the_patient_reads_a_result_and_its_trend_in_english_and_spanish_on_a_desktop_and_a_phone(
        portal, staff, open_browser):
    # Given a patient with two glucose results a month apart (182 high, then 99), a narrative and a preliminary count
    patient = portal.new_patient(staff, name=f"Eve Lab {secrets.token_hex(2)}", date_of_birth=BORN)
    drop(glucose(patient.mrn, b"182", b"200202150730"))
    drop(glucose(patient.mrn, b"99", b"200203150730").replace(b"|H|||F", b"|N|||F"))
    drop(personalised("narrative_escapes.hl7", [patient.mrn], secrets.token_hex(3)).replace(b"19700220", b"19620320"))
    drop(personalised("cbc_preliminary.hl7", [patient.mrn], secrets.token_hex(3)).replace(b"19850909", b"19620320"))
    titles = own_results(staff, patient)

    # When they sign in on a desktop and open the newer glucose result from their list
    browser = open_browser()
    sign_in(browser, patient.username, patient.password)
    assert browser.page.get_by_text("Test result").count() >= 4
    browser.go(f"/results/{titles['GLUCOSE']}")

    # Then the value, unit, range and flag are shown in words, with a range bar named for screen readers
    table = browser.page.get_by_test_id("result-values")
    row = table.locator("tbody tr").first
    assert "99" in row.inner_text() and "mg/dl" in row.inner_text() and "70_105" in row.inner_text()
    assert row.locator("[data-flag]").inner_text() == "Not flagged"
    assert row.locator("svg[role=img]").get_attribute("aria-label") == "99 mg/dl: within the range 70_105"
    assert browser.page.locator("script").count() == 0

    # When they follow the test's trend (it has two values)
    browser.follow("See the trend · GLUCOSE")

    # Then a chart drawn on the server, its band and both values, and the same numbers as a table
    chart = browser.page.locator("svg.trend-chart")
    assert chart.get_attribute("role") == "img" and "GLUCOSE over time" in chart.locator("title").first.text_content()
    assert chart.locator("rect[stroke-dasharray]").count() == 1  # the reference band
    assert chart.locator("circle").count() == 1 and chart.locator("rect[width='10']").count() == 1  # 99 in, 182 out
    rows = browser.page.get_by_test_id("trend-values").locator("tbody tr")
    assert rows.count() == 2 and "182" in rows.nth(0).inner_text() and "High" in rows.nth(0).inner_text()

    # And the narrative keeps its lines and escapes, and the preliminary count says it is preliminary
    narrative = titles["Surgical pathology"]
    browser.go(f"/results/{narrative}")
    assert "Seborrheic keratosis | no atypia." in browser.text()
    assert "Reviewed by Dr. Lee \\ Dr. Park ~ second opinion concurs." in browser.text()
    browser.go(f"/results/{titles['Complete blood count']}")
    assert "Preliminary result." in browser.page.get_by_test_id("preliminary").inner_text()
    assert "High" in browser.page.get_by_test_id("result-values").inner_text()

    # When they choose Spanish, on a 390 px phone
    assert patient.api.put("/api/me/language", json={"language": "es"}).status_code == 200
    phone = open_browser(viewport=PHONE, storage_state=browser.page.context.storage_state())
    phone.go(f"/results/{titles['GLUCOSE']}")

    # Then the result and its trend are in Spanish, and nothing is wider than the phone but the tables' own scroll
    assert "Sus valores" in phone.text() and "Sin marca" in phone.text()
    phone.go(f"/results/trends/{quote('1554-5')}")
    assert "GLUCOSE a lo largo del tiempo" in phone.text() and "Alto" in phone.text()
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_office_sees_every_version_the_critical_call_and_a_quarantined_message_escaped(portal, staff, open_browser):
    # Given a critical result, a count sent preliminary then final, and a quarantined message holding markup
    patient = portal.register_patient(staff, name=f"Avery Crit {secrets.token_hex(2)}", date_of_birth="1958-04-12")
    drop(personalised("critical_values.hl7", [patient.mrn], secrets.token_hex(3)))
    order = secrets.token_hex(3)
    drop(personalised("cbc_preliminary.hl7", [patient.mrn], order).replace(b"19850909", b"19580412"))
    drop(personalised("cbc_final.hl7", [patient.mrn], order).replace(b"19850909", b"19580412"))
    key = f"lab/{secrets.token_hex(4)}/bad.hl7"
    aws.client("s3").put_object(Bucket=get_settings().results_bucket, Key=key,
                                Body=b"MSH|^~\\&|LAB\rNTE|1||<img src=x onerror=alert(1)>\r\xff\xfe")
    pump.drain()
    titles = own_results(staff, patient)

    # When the office opens its work queue on a phone-sized screen and on a desktop
    browser = staff_signs_in(open_browser)
    browser.go("/staff/queue?limit=500")

    # Then the critical result is there to call about, linked to the result
    critical = browser.page.locator(f"tr[data-critical-result='{titles['Basic metabolic panel']}']")
    assert patient.name in critical.inner_text()

    # And the count's page shows both versions' values
    browser.go(f"/staff/results/{titles['Complete blood count']}")
    assert browser.page.locator("section[data-version]").count() == 2
    assert "Version 2 · Final" in browser.text() and "Version 1 · Preliminary" in browser.text()

    # And the quarantined message is shown as it came, escaped (no element made of it)
    [entry] = [e for e in queue_list(staff, "quarantine") if e["data"].get("key") == key]
    browser.go(f"/staff/results/quarantine/{quote(entry['id'], safe='')}")
    raw = browser.page.get_by_test_id("raw-message")
    assert "<img src=x onerror=alert(1)>" in raw.inner_text() and raw.locator("img").count() == 0
    assert browser.page.get_by_role("button", name="Send it again").count() == 1
