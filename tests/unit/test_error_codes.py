"""Errors by code (chalicelib/errors.py): a service error carries its contract code and its message
as a catalog id, and is put into words where it is shown: the JSON API's `message` in the language
of `Accept-Language` (English by default, the code the same in every language), a page beside its
field in the page's language. No raise site words its message outside the catalog."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from chalicelib.errors import BadRequest, Conflict, InvalidCode, PortalError, http_error_middleware
from chalicelib.i18n import N_
from chalicelib.services.accounts import email_address
from chalicelib.web.forms import field_errors

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"


def _answer(exc: PortalError, accept_language: str | None = None):
    headers = {"accept-language": accept_language} if accept_language else {}

    def raising(_event):
        raise exc

    return http_error_middleware(SimpleNamespace(headers=headers, path="/api/x"), raising)


def test_the_api_words_an_error_in_the_language_asked_for_and_keeps_its_code():
    # Given a service error about one field
    blank = BadRequest(N_("Must not be blank."), field="name", code="invalid_request")
    # When the API answers it without a language, in Spanish, and with Spanish ranked below English
    english, spanish, ranked = _answer(blank), _answer(blank, "es-MX,es;q=0.9"), _answer(blank, "fr, en;q=0.9, es;q=0.5")
    # Then the code is the contract's in every language and the message follows Accept-Language
    assert {english.body["error"], spanish.body["error"], ranked.body["error"]} == {"invalid_request"}
    assert english.body["message"] == "name: must not be blank."
    assert spanish.body["message"] == "name: no puede quedar en blanco."
    assert ranked.body["message"] == english.body["message"]


def test_a_body_that_fails_its_model_is_refused_in_the_language_asked_for():
    # Given a sign-in body without its password
    from chalicelib.bodies import LoginBody

    def refused(_event):
        LoginBody.model_validate({"username": "maria"})

    def answer(accept_language: str | None):
        headers = {"accept-language": accept_language} if accept_language else {}
        return http_error_middleware(SimpleNamespace(headers=headers, path="/api/auth/login"), refused).body

    # Then English names the field with pydantic's words, Spanish with the catalog's; the code is the same
    assert answer(None) == {"error": "invalid_request", "message": "password: Field required"}
    assert answer("es") == {"error": "invalid_request", "message": "password: este campo es obligatorio."}


def test_values_and_several_fields_are_worded_in_the_language_too():
    # Given an error with a value, and a conflict naming two fields
    limit = BadRequest(N_("A whole number from 1 to {max}."), field="limit", params={"max": 200})
    taken = Conflict(code="mrn_taken", fields={"mrn": N_("A patient with this MRN is already registered."),
                                               "email": N_("This email is already the username of another account.")})
    # Then each is answered with its values in place, in English and in Spanish
    assert _answer(limit).body["message"] == "limit: a whole number from 1 to 200."
    assert _answer(limit, "es").body["message"] == "limit: un número entero del 1 al 200."
    spanish = _answer(taken, "es").body
    assert spanish["error"] == "mrn_taken"
    assert spanish["fields"] == {"mrn": "ya hay un paciente registrado con este MRN.",
                                 "email": "este correo ya es el nombre de usuario de otra cuenta."}
    assert spanish["message"] == "; ".join(f"{name}: {text}" for name, text in spanish["fields"].items())


def test_a_page_shows_each_sentence_beside_its_field_in_its_language():
    # Given the errors a form meets / Then a page shows the sentence alone, capitalised, next to its field
    assert field_errors(InvalidCode(), "es") == {"code": "El código no es correcto (o ya se usó)."}
    assert field_errors(InvalidCode(), "en") == {"code": "The code is not correct (or was already used)."}
    assert field_errors(BadRequest(N_("The account no longer exists.")), "es") == {"": "La cuenta ya no existe."}


def test_words_from_outside_the_catalog_give_way_to_a_general_sentence_in_another_language():
    # Given an email address email-validator refuses, with its English reason
    with pytest.raises(BadRequest) as refused:
        email_address.valid("maria@@example.com")
    # Then English keeps the reason, and Spanish says the catalog's general sentence
    assert refused.value.code == "invalid_email"
    assert refused.value.message.startswith("email: not a valid email address (")
    assert field_errors(refused.value, "es") == {
        "email": "No es una dirección de correo electrónico válida (se ve así: nombre@ejemplo.com)."}


ERRORS = {"PortalError", "BadRequest", "Forbidden", "Conflict", "NotFound", "Gone", "InvalidCredentials",
          "Unauthenticated", "InvalidCode", "RateLimited", "PayloadTooLarge", "UnsupportedForm", "WeakPassword"}


def _literal(node: ast.AST | None) -> bool:
    """A message written out in the code: a string, an f-string, or a choice of them."""
    if isinstance(node, ast.IfExp):
        return _literal(node.body) or _literal(node.orelse)
    if isinstance(node, ast.BinOp):
        return _literal(node.left) or _literal(node.right)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and bool(node.value))


def _worded_outside_the_catalog(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS:
            position = 1 if node.func.id == "RateLimited" else 0  # after its Retry-After seconds
            message = node.args[position] if len(node.args) > position else None
            if _literal(message):
                found.append(f"{path.relative_to(CHALICELIB)}:{node.lineno}")
    return found


def test_every_error_raised_gives_its_message_as_a_catalog_id():
    # Given every module of the portal / Then no domain error is raised with a literal or an f-string
    # message: each is N_("…") with its field and values apart, so every language can word it
    found = [place for path in sorted(CHALICELIB.rglob("*.py")) if "localstack" not in path.parts
             for place in _worded_outside_the_catalog(path)]
    assert found == []
