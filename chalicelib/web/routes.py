"""Every page blueprint, in one list for app.py (registered before the catch-all 404)."""

from chalice import Blueprint


def blueprints() -> list[Blueprint]:
    from chalicelib.web import (
        account_pages,
        caregiver_pages,
        document_pages,
        export_pages,
        lifecycle_pages,
        mfa_pages,
        patient_pages,
        staff_pages,
    )

    return [account_pages.bp, mfa_pages.bp, patient_pages.bp, staff_pages.bp, lifecycle_pages.bp, document_pages.bp,
            export_pages.bp, caregiver_pages.bp]
