"""The OpenAPI document (3.1), generated from the route table (`chalicelib.api.http.ROUTES`) and the
declarations each route names: its request body and query string (`chalicelib/bodies.py`, the same
models that validate requests) and its answer (the TypedDict its service returns, declared beside
the service in `services/<capability>/answers.py`, or a route's envelope in `api/answers.py`: the
same declarations the service functions are annotated with and the suite checks every answer
against). Nothing here describes a route a second time, so the document cannot drift from the code.
pydantic writes JSON Schema 2020-12, which is OpenAPI 3.1's schema dialect. Built on the first
request for it, never at a cold start."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.api.http import PUBLIC, ROUTES, RouteSpec
from chalicelib.frontdoor import MAX_ID_LENGTH

if TYPE_CHECKING:
    from pydantic import BaseModel

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in spec.path.split("/") if part.startswith("{")]
    parameters = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}} for n in names]
    if spec.query is not None:
        for name, schema in spec.query.model_json_schema()["properties"].items():
            schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
    return parameters


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


REF = "#/components/schemas/{model}"


def _add(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """One component per name: two declarations of one name would describe two shapes under it."""
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different answers or bodies are both called {name}: rename one")


def _model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """`$ref` to the model, its schema (and the models it uses) added to the components."""
    schema = model.model_json_schema(ref_template=REF)
    for name, used in schema.pop("$defs", {}).items():
        _add(schemas, name, used)
    _add(schemas, model.__name__, schema)
    return {"$ref": REF.format(model=model.__name__)}


def _answer_schema(declared: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """An answer's schema from its declaration: `$ref` to a TypedDict (its schema, and those of the
    declarations it uses, added to the components), or a choice between such refs."""
    from pydantic import TypeAdapter
    from typing_extensions import is_typeddict

    schema = TypeAdapter(declared).json_schema(ref_template=REF)
    for name, used in schema.pop("$defs", {}).items():
        _add(schemas, name, used)
    if is_typeddict(declared):
        _add(schemas, declared.__name__, schema)
        return {"$ref": REF.format(model=declared.__name__)}
    return schema


def _success(spec: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    if spec.status == 204:
        return {"description": "Done."}
    if spec.status == 303:  # a file the route hands out (an enrolment letter's PDF)
        return {"description": "See Other: `Location` is a short-lived link to the file.",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}
    if spec.response is None:
        raise LookupError(f"{spec.method} {spec.path}: the route names no answer (route(response=...))")
    schema = _answer_schema(spec.response, schemas)
    return {"description": "Success.", "content": {"application/json": {"schema": schema}}}


def _operation(spec: RouteSpec, schemas: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {str(spec.status): _success(spec, schemas)}
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
        "parameters": _parameters(spec),
        "responses": responses,
    }
    if spec.access != PUBLIC:
        operation["security"] = [{"bearer": []}]
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _model_schema(spec.body, schemas)}},
        }
    return operation


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Patient Portal API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
