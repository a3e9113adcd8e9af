"""Every page blueprint, in one list for app.py (registered before the catch-all 404)."""

from chalice import Blueprint


def blueprints() -> list[Blueprint]:
    from chalicelib.web import audit_pages
    from chalicelib.web.access import account_pages, mfa_pages
    from chalicelib.web.accounts import lifecycle_pages
    from chalicelib.web.accounts import staff_pages as account_staff_pages
    from chalicelib.web.caregivers import caregiver_pages
    from chalicelib.web.followup import staff_pages as followup_staff_pages
    from chalicelib.web.messaging import patient_pages as message_pages
    from chalicelib.web.messaging import staff_pages as message_staff_pages
    from chalicelib.web.providers import provider_pages
    from chalicelib.web.publication import document_pages, incident_pages, patient_pages
    from chalicelib.web.publication import staff_pages as publication_staff_pages
    from chalicelib.web.records import export_pages
    from chalicelib.web.results import result_pages

    return [account_pages.bp, mfa_pages.bp, patient_pages.bp, message_pages.bp, followup_staff_pages.bp,
            account_staff_pages.bp, publication_staff_pages.bp, message_staff_pages.bp, audit_pages.bp,
            lifecycle_pages.bp, document_pages.bp, export_pages.bp, caregiver_pages.bp, result_pages.bp,
            provider_pages.bp, incident_pages.bp]
