"""A provider's "Results to review" page: each result with its patient, test, flags and how long it
has waited, a link to the result and a form to mark it reviewed with a comment for the patient."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.services.providers import review
from chalicelib.web.framework import STAFF, PageCtx, page

bp = Blueprint(__name__)


def _list(ctx: PageCtx, status: int = 200, errors: dict[str, str] | None = None, failed: str | None = None):
    return ctx.render("provider_results.html", status=status, results=review.to_review(ctx.caller)["results"],
                      errors=errors or {}, failed=failed)


@page(bp, "/provider/results", access=STAFF)
def results_to_review(ctx: PageCtx):
    return _list(ctx)


@page(bp, "/provider/results/{result_id}/review", ("POST",), access=STAFF)
def review_result(ctx: PageCtx, result_id: str):
    return ctx.submit("ProviderReviewBody", lambda body: review.review(ctx.caller, result_id, body.comment),
                      lambda status, errors: _list(ctx, status, errors, result_id),
                      done="/provider/results")
