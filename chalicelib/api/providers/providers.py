"""A provider's "Results to review" and the review of one result (with a comment for the patient)."""

from chalice import Blueprint

from chalicelib.api.http import STAFF, Ctx, route
from chalicelib.services.providers import review
from chalicelib.services.providers.answers import ResultsToReview, Reviewed

bp = Blueprint(__name__)


@route(bp, "/api/provider/results", access=STAFF, response=ResultsToReview, query="ProviderResultsQuery",
       responses={403: "not_a_provider"})
def results_to_review(ctx: Ctx):
    """Results routed to this provider (or to no one) not yet reviewed: critical first, then
    abnormal, then newest (providers only)."""
    return review.to_review(ctx.caller)


@route(bp, "/api/provider/results/{result_id}/review", "POST", access=STAFF, response=Reviewed,
       body="ProviderReviewBody", responses={403: "not_a_provider", 404: "not_found"})
def review_result(ctx: Ctx, result_id: str):
    """Mark a result reviewed, with an optional comment the patient reads under the provider's name."""
    return review.review(ctx.caller, result_id, ctx.body.comment)
