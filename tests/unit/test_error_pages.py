"""Browser addresses get their errors as pages; the API's stay JSON (chalicelib/web/error_pages.py)."""

from types import SimpleNamespace

from chalice import Response

from chalicelib.errors import error_response
from chalicelib.web.error_pages import html_error_middleware, wants_page


def _request(resource_path: str, **uri_params) -> SimpleNamespace:
    return SimpleNamespace(context={"resourcePath": resource_path}, uri_params=uri_params, path=resource_path)


def _answer(status: int, code: str, message: str, resource_path: str, **uri_params) -> Response:
    return html_error_middleware(_request(resource_path, **uri_params),
                                 lambda _event: error_response(status, code, message))


def test_a_failure_on_a_page_is_an_html_500_with_a_way_back():
    # Given a page whose handler failed (the error mapping answered 500 JSON)
    # When the answer goes out / Then it is the 500 page, in the layout, with its language and links
    page = _answer(500, "internal_error", "Something went wrong on our side.", "/staff/queue")
    assert page.status_code == 500
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="en">' in page.body and "<h1>Something went wrong</h1>" in page.body
    assert 'href="/"' in page.body and 'href="/sign-in"' in page.body
    assert "Content-Security-Policy" in page.headers


def test_a_refusal_on_a_page_is_an_html_403_saying_why():
    page = _answer(403, "cross_site", "This form was sent from another site.", "/sign-in")
    assert page.status_code == 403 and "<h1>Not allowed</h1>" in page.body
    assert "This form was sent from another site." in page.body


def test_the_catch_all_route_is_read_as_the_address_asked_for():
    # Given the catch-all route /{p1}/{p2} with api and nope / Then it is the API's address: JSON stays
    answer = _answer(404, "not_found", "No such page or API route.", "/{p1}/{p2}", p1="api", p2="nope")
    assert answer.status_code == 404 and answer.body == {"error": "not_found", "message": "No such page or API route."}
    # And /nope is a browser's: a page
    page = _answer(404, "not_found", "No such page or API route.", "/{p1}", p1="nope")
    assert "<h1>Page not found</h1>" in page.body


def test_api_and_dev_paths_keep_json_and_successes_pass_untouched():
    assert not wants_page("/api/staff/queue") and not wants_page("/dev/outbox") and not wants_page("/api")
    assert wants_page("/") and wants_page("/staff") and wants_page("/apiary")
    ok = Response(body="<p>fine</p>", status_code=200, headers={"Content-Type": "text/html"})
    assert html_error_middleware(_request("/"), lambda _event: ok) is ok
