"""What a secure message is about, as each side reads it: the patient picks a category in their own
voice ("A question about my results"); a thread the office starts speaks in the office's ("About
your results"). Labels are catalog ids: templates show them through the catalog."""

from chalicelib.i18n import N_
from chalicelib.services.messaging import threads as messaging

CATEGORY_LABELS = {
    "results_question": N_("A question about my results"),
    "prescription": N_("Prescription"),
    "billing": N_("Billing"),
    "appointment": N_("Appointment"),
    "other": N_("Something else"),
}


# The same categories in the office's voice, for threads the office starts ("About your results",
# not the patient's "A question about my results").
OFFICE_CATEGORY_LABELS = {
    "results_question": N_("About your results"),
    "prescription": N_("About your prescription"),
    "billing": N_("About your bill"),
    "appointment": N_("About your appointment"),
    "other": N_("Another matter"),
}
# Each side's labels, by who started the thread (`started_by`: the patient's side or the office).
LABELS_BY_STARTER = {"patient": CATEGORY_LABELS, "office": OFFICE_CATEGORY_LABELS}


def category_label(category: str | None, started_by: str = "patient") -> str | None:
    """A thread's category as a catalog id, in the voice of whoever started the thread."""
    if not category:
        return None
    return LABELS_BY_STARTER.get(started_by, CATEGORY_LABELS).get(category, category.replace("_", " ").capitalize())


def categories(started_by: str = "patient") -> list[tuple[str, str]]:
    """The categories a new thread offers, each labelled in the voice of the side starting it."""
    return [(value, category_label(value, started_by) or value) for value in messaging.CATEGORIES]
