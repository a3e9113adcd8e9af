"""How the office's pages word a date of birth, a thread's category and the note after a message."""

from __future__ import annotations

from chalicelib import i18n
from chalicelib.clock import date_text
from chalicelib.web.messaging.categories import categories, category_label
from chalicelib.web.rendering import notice_text


def test_a_date_of_birth_is_written_as_the_clinic_writes_dates_in_each_language():
    # Given a date of birth as stored / When shown / Then the clinic's format, the day never moved by a time zone
    assert date_text("1962-03-14") == "14 Mar 1962"
    assert date_text("1962-03-14", "es") == "14 mar 1962"
    assert date_text("2000-01-01", "en") == "1 Jan 2000"
    # And what is not a stored date is shown as it is, nothing as nothing
    assert date_text("3/14/1962") == "3/14/1962" and date_text(None) == "" and date_text("") == ""


def test_a_category_speaks_in_the_voice_of_whoever_started_the_thread():
    # Given the same category / When the patient or the office started the thread / Then each side's own words
    assert category_label("results_question", "patient") == "A question about my results"
    assert category_label("results_question", "office") == "About your results"
    assert i18n.gettext(category_label("results_question", "office") or "", "es") == "Sobre sus resultados"
    assert category_label(None, "office") is None
    # And the office's form offers every category, in its voice
    offered = dict(categories("office"))
    assert offered["billing"] == "About your bill" and len(offered) == len(dict(categories()))


def test_the_note_after_an_office_message_names_the_patient():
    assert notice_text("office-message-sent", "en", patient="Mara Sent") == "Your message has been sent to Mara Sent."
    assert notice_text("office-reply-sent", "es", patient="Mara Sent") == "Su respuesta se envió a Mara Sent."
    assert notice_text("office-reply-sent", "en") == "Your reply has been sent to the patient."
