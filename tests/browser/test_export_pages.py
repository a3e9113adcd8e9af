"""Take-away records in a browser: from My Profile a patient asks for a copy (a form, no
JavaScript), sees it being prepared, checks again once the job has run and downloads the zip."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from chalicelib.localstack import pump
from tests.browser.test_patient_journey import publish_result, sign_in

pytestmark = pytest.mark.browser

TITLE = "Lipid panel (take-away)"


def test_a_patient_asks_for_their_records_and_downloads_the_zip(portal, staff, open_browser, tmp_path):
    # Given a signed-in patient with a result
    patient = portal.new_patient(staff)
    publish_result(patient, title=TITLE)
    browser = open_browser()
    sign_in(browser, patient.username, patient.password)
    browser.go("/profile")
    assert "Download my records" in browser.text()

    # When they ask for a copy from My Profile
    browser.submit("Prepare my records")

    # Then a page says it is being prepared, with a link to check again
    assert re.fullmatch(r"/profile/records/exp_[0-9a-f]+", browser.path)
    assert "Being prepared" in browser.page.get_by_test_id("export-status").inner_text()
    assert browser.page.get_by_test_id("export-download").count() == 0

    # When the job has run and they check again
    pump.drain()
    with browser.page.expect_navigation():
        browser.page.get_by_role("link", name="Check again").click()
    browser.visited()

    # Then the page offers the zip, and the link downloads it
    assert "Ready" in browser.page.get_by_test_id("export-status").inner_text()
    with browser.page.expect_download() as download:
        browser.page.get_by_test_id("export-download").click()
    saved = tmp_path / "records.zip"
    download.value.save_as(saved)
    assert re.fullmatch(r"health-records-\d{4}-\d{2}-\d{2}\.zip", download.value.suggested_filename)
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
        assert f"documents/{TITLE}.txt" in names and "index.html" in names
        assert archive.read(f"documents/{TITLE}.txt") == b"LDL 162 mg/dL (high)\nHDL 51 mg/dL\n"
        assert json.loads(archive.read("bundle.json"))["type"] == "collection"

    # And My Profile's "latest copy" page shows the same ready copy
    browser.go("/profile/records")
    assert "Ready" in browser.page.get_by_test_id("export-status").inner_text()
