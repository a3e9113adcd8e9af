"""My Profile: who am I, change username, email and phone, choose the language, how notices come and
when results are released."""

from chalice import Blueprint

from chalicelib.api.answers import Email, Language, Username
from chalicelib.api.http import PATIENT, SIGNED_IN, Ctx, route
from chalicelib.services.accounts import contact
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.accounts.answers import Notifications, ResultRelease
from chalicelib.services.accounts.contact import PhoneAnswer
from chalicelib.services.caregivers import grants as caregivers
from chalicelib.services.caregivers.answers import MyAccount
from chalicelib.services.results import release

bp = Blueprint(__name__)


@route(bp, "/api/me", access=SIGNED_IN, response=MyAccount)
def me(ctx: Ctx):
    """The signed-in account (a caregiver's with the patients they care for)."""
    return caregivers.me(ctx.signed_in)


@route(bp, "/api/me/username", "PUT", access=SIGNED_IN, response=Username, body="UsernameBody",
       responses={400: "invalid_username", 401: "invalid_credentials", 409: "username_taken",
                  429: "rate_limited: a few attempts an hour"})
def change_username(ctx: Ctx):
    """Change the username (any unused valid name, email-shaped or not)."""
    return {"username": accounts.change_username(ctx.caller, ctx.body.username, ctx.body.current_password)}


@route(bp, "/api/me/email", "PUT", access=SIGNED_IN, response=Email, body="EmailBody",
       responses={400: "invalid_email", 401: "invalid_credentials"})
def change_email(ctx: Ctx):
    """Change the email on file; the username stays as it is."""
    return {"email": accounts.change_email(ctx.caller, ctx.body.email, ctx.body.current_password)}


@route(bp, "/api/me/language", "PUT", access=SIGNED_IN, response=Language, body="LanguageBody",
       responses={400: "invalid_request: en or es"})
def change_language(ctx: Ctx):
    """Choose the language of the portal's pages and mails (en, es)."""
    return {"language": accounts.change_language(ctx.caller, ctx.body.language)}


@route(bp, "/api/me/phone", "PUT", access=PATIENT, response=PhoneAnswer, body="PhoneBody",
       responses={400: "invalid_phone", 401: "invalid_credentials"})
def change_phone(ctx: Ctx):
    """Change the phone on file (stored in E.164; blank removes it and turns texts off)."""
    return {"phone": contact.change_my_phone(ctx.caller, ctx.body.phone, ctx.body.current_password)}


@route(bp, "/api/me/notifications", "PUT", access=PATIENT, response=Notifications, body="NotificationsBody",
       responses={400: "no_mobile_number, no_email_address or no_channel"})
def choose_notifications(ctx: Ctx):
    """Choose how notices of new items reach you: email, text messages (SMS), or both."""
    return contact.choose_my_channels(ctx.caller, ctx.body.email, ctx.body.sms)


@route(bp, "/api/me/result-release", "PUT", access=PATIENT, response=ResultRelease, body="ResultReleaseBody",
       responses={400: "invalid_request: immediately or after_review"})
def choose_result_release(ctx: Ctx):
    """Choose when your lab results are released to you: `immediately` (on arrival, the default) or
    `after_review` (once your provider has reviewed each one, at most RESULT_HOLD_DAYS days)."""
    return release.choose(ctx.caller, ctx.body.when)
