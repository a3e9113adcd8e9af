"""A cold start imports only what the first read needs: pydantic (the request bodies and the OpenAPI
document, which reads the answers' TypedDicts), boto3 and the page templates load on first use, and
the garbage collector does not walk what the import made. Each check runs `import app` in a fresh interpreter, as Lambda does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Loaded on first use only: none of them is needed to serve GET /api/items.
LAZY_MODULES = ("pydantic", "pydantic_core", "chalicelib.bodies", "chalicelib.api.openapi",
                "boto3", "s3transfer", "jinja2", "zxcvbn", "chalicelib.mail.outbox_reader")


def fresh_interpreter(code: str) -> dict:
    """Run `code` after `import app` in a new Python process; it prints one JSON object."""
    answer = subprocess.run([sys.executable, "-c", "import gc, json, sys\nimport app\n" + code],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_importing_the_app_loads_none_of_the_lazy_modules():
    # Given a fresh interpreter
    # When it imports the app
    seen = fresh_interpreter(f"print(json.dumps([m for m in {LAZY_MODULES!r} if m in sys.modules]))")

    # Then none of the modules kept for first use is loaded
    assert seen == []


def test_the_first_route_body_loads_pydantic_and_its_model():
    # Given a freshly imported app and a route that takes a body
    # When the route's body model is first asked for
    seen = fresh_interpreter(
        "from chalicelib.api.http import ROUTES\n"
        "before = 'pydantic' in sys.modules\n"
        "spec = next(s for s in ROUTES if (s.method, s.path) == ('POST', '/api/auth/login'))\n"
        "print(json.dumps({'before': before, 'body': spec.body.__name__, 'after': 'pydantic' in sys.modules}))"
    )

    # Then pydantic loads only then, with the named model
    assert seen == {"before": False, "body": "LoginBody", "after": True}


def test_every_body_a_route_names_is_a_request_body_model():
    # Given the routes of a freshly imported app
    # When each named body is resolved
    seen = fresh_interpreter(
        "from chalicelib import bodies as models\n"
        "from chalicelib.api.http import ROUTES\n"
        "named = [s.body_name for s in ROUTES if s.body_name]\n"
        "print(json.dumps({'named': len(named), 'bodies': sum(issubclass(s.body, models.Body) for s in ROUTES if s.body_name)}))"
    )

    # Then every name is a Body model of chalicelib.bodies (a typo fails here, not on a first request)
    assert seen["named"] >= 15
    assert seen["bodies"] == seen["named"]


def test_every_route_that_answers_with_a_body_names_its_answers_typeddict():
    # Given the routes of a freshly imported app (those answering 204, or 303 to a file, have no body)
    # When each route's answer declaration is looked at (without the OpenAPI document or any request)
    seen = fresh_interpreter(
        "from typing_extensions import is_typeddict\n"
        "from chalicelib.api.http import ROUTES\n"
        "unnamed = [f'{s.method} {s.path}' for s in ROUTES if s.status not in (204, 303) and s.response is None]\n"
        "named = [s for s in ROUTES if s.response is not None]\n"
        "def is_answer(declared):\n"
        "    # a TypedDict, or a choice between TypedDicts (a document whole or retracted)\n"
        "    members = getattr(declared, '__args__', None) if not is_typeddict(declared) else None\n"
        "    return is_typeddict(declared) or bool(members) and all(is_typeddict(m) for m in members)\n"
        "print(json.dumps({'unnamed': unnamed, 'named': len(named), 'answers': sum(is_answer(s.response) for s in named),\n"
        "                  'pydantic': 'pydantic' in sys.modules}))"
    )

    # Then every answer is declared as a TypedDict (or a choice of them), and none loaded pydantic
    assert seen["unnamed"] == []
    assert seen["named"] >= 30
    assert seen["answers"] == seen["named"]
    assert seen["pydantic"] is False


def test_the_import_is_frozen_out_of_garbage_collection_and_collection_resumes():
    # Given a fresh interpreter
    # When it imports the app
    seen = fresh_interpreter("print(json.dumps({'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}))")

    # Then what the import made is in the permanent generation, and collection is on again for the rest
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000
