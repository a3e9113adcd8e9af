"""A page's form checked by the API's own body model: a yes-or-no field is a checkbox."""

from __future__ import annotations

from chalicelib.web.forms import check_form


def test_a_ticked_box_is_a_yes_and_a_box_left_unticked_is_a_no():
    # Given the notices form with only "Text message (SMS)" ticked (a browser sends no unticked box)
    form = {"sms": "on"}

    # When the form is checked by the API's body model
    body = check_form(form, "NotificationsBody")

    # Then the ticked box is a yes and the other a no, as the API's JSON would say
    assert (body.email, body.sms) == (False, True)
    assert (check_form({}, "NotificationsBody").email, check_form({"email": "on", "sms": "on"}, "NotificationsBody").sms) \
        == (False, True)
