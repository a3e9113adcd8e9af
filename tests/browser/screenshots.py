"""Screenshots of the main pages for docs/pages.md: `make screenshots` (or `python -m tests.browser.screenshots`).

Starts its own local stack, fills it with a small demo clinic, and saves desktop (1280 wide) and
phone (390 wide) screenshots to docs/screenshots/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs/screenshots"
STAFF_PASSWORD = "marble-Fjord-ember-41-sprocket"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalicelib.stages import stage_environment

    for name, value in stage_environment("local").items():
        os.environ.setdefault(name, value)

    from playwright.sync_api import sync_playwright

    from chalicelib.localstack import pump, server
    from chalicelib.localstack.stack import LocalStack, free_port
    from chalicelib.services.accounts import registry as accounts
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
    from tests.browser.test_patient_journey import publish_result
    from tests.support.http import Portal

    port = free_port()
    stack = LocalStack(portal_port=port).start()
    http = server.serve("127.0.0.1", port)
    try:
        pump.subscribe_sns_pumps()
        accounts.ensure_account("staff", "desk", STAFF_PASSWORD, "desk@clinic.example", "Front Desk")
        portal = Portal(f"http://127.0.0.1:{port}")
        staff = portal.signed_in("desk", STAFF_PASSWORD)
        patient = portal.new_patient(staff, name="Rosa Delgado", phone="(919) 555-0142")
        publish_result(patient, title="Complete blood count", comment="All values are within the normal range.")
        publish_result(patient)
        items = patient.api.get("/api/items").json()["items"]
        patient.api.get(f"/api/documents/{items[1]['id']}")
        thread = patient.api.post("/api/messages", json={
            "subject": "Question about my cholesterol", "category": "results_question", "item_id": items[0]["id"],
            "body": "Should I fast before the next blood test?"}).json()["id"]
        staff.post(f"/api/staff/messages/{thread}", json={"body": "Yes, please fast for 9 to 12 hours beforehand."})
        # The newest result stays unread through every notice: the work queue has a call to make.
        from datetime import timedelta

        from chalicelib.clock import clock, iso

        for days in (3, 6, 9):
            portal.public.post("/dev/sweep", json={"now": iso(clock.now() + timedelta(days=days, minutes=1))})
        portal.public.post("/api/forms/forgot-username", json={"name": "Samuel Ortiz", "date_of_birth": "1958-10-02",
                                                               "phone": "919-555-0175", "note": "New phone, old email."})
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for size_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                shoot_patient(browser, portal, patient, items[1]["id"], thread, size_name, viewport)
                shoot_staff(browser, portal, patient.id, thread, size_name, viewport, document_id=items[1]["id"])
            browser.close()
    finally:
        http.shutdown()
        stack.stop()
    print(f"screenshots saved to {OUT}")


def _sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/sign-in")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/mfa/verify" in page.url:  # staff: the code from their authenticator app
        from tests.support.second_factor import AUTHENTICATORS

        page.get_by_label("Code from the app", exact=True).fill(AUTHENTICATORS.code(username))
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()


def _shoot(page, base_url: str, path: str, name: str, size_name: str) -> None:
    page.goto(base_url + path)
    page.screenshot(path=str(OUT / f"{name}-{size_name}.png"), full_page=True)


def shoot_patient(browser, portal, patient, document_id: str, thread_id: str, size_name: str, viewport: dict) -> None:
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    _shoot(page, portal.base_url, "/sign-in", "sign-in", size_name)
    _shoot(page, portal.base_url, "/nope", "not-found", size_name)
    _sign_in(page, portal.base_url, patient.username, patient.password)
    page.screenshot(path=str(OUT / f"patient-home-{size_name}.png"), full_page=True)
    _shoot(page, portal.base_url, f"/documents/{document_id}", "patient-document", size_name)
    _shoot(page, portal.base_url, f"/messages/{thread_id}", "patient-message", size_name)
    _shoot(page, portal.base_url, "/profile", "patient-profile", size_name)
    context.close()


def shoot_staff(browser, portal, patient_id: str, thread_id: str, size_name: str, viewport: dict,
                document_id: str | None = None) -> None:
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    _sign_in(page, portal.base_url, "desk", STAFF_PASSWORD)
    _shoot(page, portal.base_url, "/staff", "staff-home", size_name)
    _shoot(page, portal.base_url, f"/staff/patients/{patient_id}", "staff-patient", size_name)
    _shoot(page, portal.base_url, "/staff/queue", "staff-queue", size_name)
    _shoot(page, portal.base_url, "/staff/inbox", "staff-inbox", size_name)
    _shoot(page, portal.base_url, f"/staff/messages/{thread_id}", "staff-message", size_name)
    _shoot(page, portal.base_url, "/staff/patients/new", "staff-register", size_name)
    _shoot(page, portal.base_url, f"/staff/patients/{patient_id}/upload", "staff-upload", size_name)
    if document_id:
        _shoot(page, portal.base_url, f"/staff/documents/{document_id}", "staff-document", size_name)
    context.close()


if __name__ == "__main__":
    main()
