"""The OpenAPI document, generated from the routes and the same pydantic models that validate
request bodies, so it cannot drift from the code."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib.api.http import PUBLIC, ROUTES

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}} for n in names]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in ROUTES:
        responses: dict[str, Any] = {}
        if spec.status == 204:
            responses["204"] = {"description": "Done."}
        else:
            responses[str(spec.status)] = {
                "description": "Success.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        responses["400"] = _error("Malformed or invalid request; the message names the field.")
        responses["404"] = _error("Not found.")
        responses["405"] = _error("Method not allowed.")
        responses["413"] = _error("Body too large.")
        responses["415"] = _error("Unsupported media type.")
        responses["429"] = _error("Too many requests; see Retry-After.")
        if spec.access != PUBLIC:
            responses["401"] = _error("Missing or expired session.")
            responses["403"] = _error("Not allowed, or a password change is required first.")
        for status, code in spec.responses.items():
            responses[str(status)] = _error(code)
        operation: dict[str, Any] = {
            "operationId": f"{spec.method.lower()}_{spec.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "summary": spec.summary.splitlines()[0] if spec.summary else spec.path,
            "parameters": _parameters(spec.path),
            "responses": responses,
        }
        if spec.access != PUBLIC:
            operation["security"] = [{"bearer": []}]
        if spec.body is not None:
            name = spec.body.__name__
            schema = spec.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            }
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "Patient Portal API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
