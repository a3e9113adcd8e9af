"""The published OpenAPI document is a valid OpenAPI 3.1 document (openapi-spec-validator), generated
from the models each route names: every operation that answers with a body points at its model."""

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


def test_every_answer_in_the_document_is_the_model_its_route_names(portal):
    # Given the published document
    document = portal.public.get("/api/openapi.json").json()

    # When each route's success answer is looked up in it
    for spec in ROUTES:
        success = document["paths"][spec.path][spec.method.lower()]["responses"][str(spec.status)]

        # Then it refers to the answer model the route names (or has no body for a 204)
        if spec.status == 204:
            assert "content" not in success, spec
            continue
        schema = success["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{spec.response_name}"}, spec
        assert spec.response_name in document["components"]["schemas"], spec

