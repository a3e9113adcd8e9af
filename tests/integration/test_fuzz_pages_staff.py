"""Every staff and admin form on the pages, posted as a careless or hostile browser would: with no
field but its CSRF token, and with every field a form of the portal has set to 3 KB, each with the
path ids of a patient of the run's own (and their document, grant and caregiver) and with ids of
no one. No answer may be a 5xx: a missing or unreadable field is a 400 page naming it, an id no
record can have the 404 of an unknown id. The counts are printed."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from app import app as _app  # noqa: F401 - registers every page, so PAGES is complete
from chalicelib import bodies
from chalicelib.web.framework import PAGES
from tests.integration.test_caregivers import caregiver_for
from tests.integration.test_documents import published
from tests.support.lifecycle import new_member
from tests.support.pages import page_csrf, signed_in_pages

pytestmark = pytest.mark.slow

TEMPLATES = Path(__file__).resolve().parents[2] / "chalicelib" / "web" / "templates"
LONG = "x" * 3 * 1024
# A form's body is refused past 64 KB before it is read: the 3 KB fields go in groups under that.
FIELDS_A_POST = 15


def _field_names() -> list[str]:
    """Every field name a page's form has, and every field of the request bodies the pages check."""
    names = set()
    for template in TEMPLATES.glob("*.html"):
        names.update(re.findall(r'name="([a-z_]+)"', template.read_text()))
    for model in vars(bodies).values():
        if isinstance(model, type) and issubclass(model, bodies.Body) and model is not bodies.Body:
            names.update(model.model_fields)
    names.discard("csrf_token")
    return sorted(names)


def _staff_forms() -> list[str]:
    return sorted({p.path for p in PAGES if "POST" in p.methods and str(p.access) in ("staff", "admin")})


def test_every_staff_form_with_missing_and_3kb_fields_answers_4xx_never_5xx(portal, staff, admin):
    # Given the admin on the pages, a patient with a document and a caregiver, and a staff member of the run's own
    from tests.conftest import ADMIN_PASSWORD

    patient, document_id = published(portal, staff)
    _, grant_id, _ = caregiver_for(portal, patient)
    [grant] = staff.get(f"/api/staff/patients/{patient.id}/proxies").json()["proxies"]
    member = new_member(portal, admin, prefix="formfuzz")
    own = {"patient_id": patient.id, "document_id": document_id, "grant_id": grant_id,
           "caregiver_id": grant["caregiver_id"], "staff_id": member.id}
    nobody = "nobody_0000000000"
    pages = signed_in_pages(portal.base_url, "admin", ADMIN_PASSWORD)
    csrf = page_csrf(pages.get(f"{portal.base_url}/staff/patients/{patient.id}", timeout=30).text)
    names = _field_names()
    ids_named = [name for name in names if name.endswith("_id")]
    others = [name for name in names if not name.endswith("_id")]
    # the other fields at 3 KB in groups (the form's ids as the run gives them), then the ids at 3 KB
    groups = [others[i:i + FIELDS_A_POST] for i in range(0, len(others), FIELDS_A_POST)] + [ids_named]
    forms = _staff_forms()
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []

    # When every staff form is posted with nothing but its token, and with every field at 3 KB,
    # with the run's own ids and with ids of no one
    for path in forms:
        for ids in (own, {}):
            url = portal.base_url + re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), nobody), path)
            form_ids = {name: ids.get(name, nobody) for name in ids_named}
            for data in [{}] + [{**form_ids, **dict.fromkeys(group, LONG)} for group in groups]:
                answer = pages.post(url, data={"csrf_token": csrf, **data}, allow_redirects=False, timeout=60)
                statuses[answer.status_code] += 1
                if answer.status_code >= 500:
                    server_errors.append(f"{answer.status_code} POST {path} ({'own ids' if ids else 'no one'}, "
                                         f"{'no fields' if not data else f'{len(data)} fields, 3 KB ones among them'})")

    # Then none was a 5xx; and the admin's session lasted to the end (the answers are the forms', not the sign-in's)
    sent = sum(statuses.values())
    print(f"\npage-form fuzz: {len(forms)} staff forms, {sent} posts, statuses {dict(sorted(statuses.items()))}")
    assert not server_errors, server_errors
    assert sent >= len(forms) * 2 * (1 + len(groups))
    assert pages.get(f"{portal.base_url}/staff", allow_redirects=False, timeout=30).status_code == 200
    # and refusals were among the answers (a form missing its fields is refused, not acted on)
    assert statuses[400] > 0 and statuses[404] > 0
