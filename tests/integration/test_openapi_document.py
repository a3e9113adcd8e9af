"""The published OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator), generated
from the declarations each route names: every operation that answers with a body points at the
TypedDict its service returns (or a choice of them), and the `Patient` answer carries the portal
access that `PUT /api/staff/patients/{id}/access` changes."""

from __future__ import annotations

from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from app import app as _app  # noqa: F401 - registers every blueprint, so ROUTES is complete
from chalicelib.api.http import ROUTES


def test_the_published_document_is_valid_openapi_3_1(portal):
    # Given the running portal
    # When its OpenAPI document is fetched as any client would
    answer = portal.public.get("/api/openapi.json")

    # Then it is served as JSON and openapi-spec-validator accepts it as OpenAPI 3.1
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)  # raises, naming the first error, if it is not


def test_every_answer_in_the_document_is_the_declaration_its_route_names(portal):
    # Given the published document
    document = portal.public.get("/api/openapi.json").json()

    # When each route's success answer is looked up in it
    for spec in ROUTES:
        success = document["paths"][spec.path][spec.method.lower()]["responses"][str(spec.status)]

        # Then it refers to the TypedDict the route names, or to each member of a choice (or has no
        # body for a 204, nor for a 303 to a file)
        if spec.status in (204, 303):
            assert "content" not in success, spec
            continue
        schema = success["content"]["application/json"]["schema"]
        names = spec.response_name.split(" | ")
        refs = [{"$ref": f"#/components/schemas/{name}"} for name in names]
        assert schema == (refs[0] if len(refs) == 1 else {"anyOf": refs}), spec
        assert set(names) <= set(document["components"]["schemas"]), spec


def test_the_patient_answer_documents_the_portal_access_it_sends(portal):
    # Given the published document
    document = portal.public.get("/api/openapi.json").json()

    # When the answer of PUT /api/staff/patients/{id}/access is looked up
    success = document["paths"]["/api/staff/patients/{patient_id}/access"]["put"]["responses"]["200"]
    ref = success["content"]["application/json"]["schema"]["$ref"]
    patient = document["components"]["schemas"][ref.rsplit("/", 1)[1]]

    # Then it is the Patient answer, and it names (and requires) the access fields its service sends
    assert ref.endswith("/Patient")
    assert {"active", "access_reason"} <= set(patient["required"]) <= set(patient["properties"])
    assert patient["properties"]["active"]["type"] == "boolean"

