"""The second factor: TOTP codes from an authenticator app (RFC 6238: SHA-1, 6 digits, 30-second
steps, one step of clock drift either way) and ten one-time recovery codes.

Staff and admins must have one in every stage; patients may add one. A sign-in with the password
alone opens a session that still owes the factor (`mfa` "enroll" or "verify", see
`owed_at_sign_in`); enrolling or verifying makes the same session whole.

- A code is accepted once: the time step it matched is remembered, and a second code for a step
  already used is refused (RFC 6238 §5.2), also when two requests race with the same code.
- A wrong code (or recovery code) counts toward the account lock, as a wrong password does.
- Recovery codes are shown once, stored as Argon2id hashes like passwords, and each works once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import clock
from chalicelib.errors import Conflict, Forbidden, InvalidCode, NotFound
from chalicelib.i18n import N_
from chalicelib.services import audit
from chalicelib.services.access import passwords, sessions, sign_in
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.mfa_policy import enrolled, is_office
from chalicelib.services.accounts import account_mail
from chalicelib.store import accounts as account_store
from chalicelib.store import mfa as mfa_store
from chalicelib.store.accounts import Account

if TYPE_CHECKING:
    import pyotp

    from chalicelib.store.audit import AuditEvent

ISSUER = "Patient Portal"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# Recovery codes: 12 characters (about 59 bits) that are hard to mistake for one another, shown as
# xxxx-xxxx-xxxx; the first 4 are the code's tag, which picks the one hash to check it against.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 12
_TAG_LENGTH = 4
# Used steps worth remembering: a step stays acceptable until it is more than DRIFT_STEPS old.
_MAX_REMEMBERED_STEPS = 20
_WRITE_TRIES = 3


@dataclass(frozen=True)
class Enrolment:
    """A new secret waiting for its first code: as text and as the URI authenticator apps scan."""

    secret: str
    otpauth_uri: str

    @property
    def grouped_secret(self) -> str:
        """The key in groups of four, easier to type into an app by hand."""
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))

    def qr_svg(self) -> str:
        """The URI as a QR code: an inline SVG (no script, no image request), labelled for screen readers."""
        import segno  # loaded by the enrolment page only

        svg = segno.make(self.otpauth_uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff",
                                                                  svgclass="qr-code")
        return svg.replace("<svg ", '<svg role="img" aria-label="QR code of the key for your authenticator app" ', 1)


# ---------------------------------------------------------------- codes

def _totp(secret: str) -> pyotp.TOTP:
    import pyotp  # loaded with the first code checked, not on every cold start

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of one time step (what an authenticator app shows during it)."""
    code: str = _totp(secret).generate_otp(step)
    return code


def _matching_steps(secret: str, code: str, now: datetime) -> list[int]:
    """The steps within the drift window whose code is `code` (checked in constant time each)."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return []
    current = step_at(now)
    return [step for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
            if hmac.compare_digest(code_at(secret, step), code)]


def _use_code(account: Account, code: str, now: datetime, *, whole_session: str | None = None,
              event: AuditEvent | None = None) -> bool:
    """Accept `code` once: True when it matches a step not used before, which is now used (with
    the session `whole_session` made whole and `event` audited in the same write). A concurrent
    change of the used steps is read again and decided anew."""
    for attempt in range(_WRITE_TRIES):
        if attempt:
            again = account_store.get(account.id)
            if again is None or not enrolled(again):
                return False
            account = again
        used = mfa_store.used_steps(account)
        fresh = [step for step in _matching_steps(account.mfa_secret, code, now) if step not in used]
        if not fresh:
            return False
        keep = sorted({step for step in used if step >= step_at(now) - DRIFT_STEPS} | {fresh[0]})
        if mfa_store.use_step(account, keep[-_MAX_REMEMBERED_STEPS:], whole_session=whole_session, event=event):
            return True
    return False


def _normal_recovery(code: str) -> str:
    return "".join(char for char in code.casefold() if char.isalnum())


def _new_recovery_codes() -> tuple[list[str], dict[str, str]]:
    """Ten new codes as shown (xxxx-xxxx-xxxx) and their hashes by tag (tags all different)."""
    shown: list[str] = []
    hashes: dict[str, str] = {}
    while len(shown) < RECOVERY_CODES:
        plain = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        tag = plain[:_TAG_LENGTH]
        if tag in hashes:
            continue
        hashes[tag] = passwords.hash_password(plain)
        shown.append("-".join(plain[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return shown, hashes


def _use_recovery_code(account: Account, recovery_code: str) -> tuple[bool, int]:
    """(whether `recovery_code` is one of the account's unused codes, now used; codes left).
    Every attempt pays for one Argon2 verification, whether or not the tag is known."""
    plain = _normal_recovery(recovery_code)
    hashes = mfa_store.recovery_hashes(account)
    tag = plain[:_TAG_LENGTH]
    code_hash = hashes.get(tag) if len(plain) == _RECOVERY_LENGTH else None
    if not passwords.verify(code_hash, plain) or code_hash is None:
        return False, len(hashes)
    if not mfa_store.use_recovery_code(account, tag, code_hash):
        return False, len(hashes)  # another request used it a moment ago
    return True, len(hashes) - 1


# ---------------------------------------------------------------- the account's own factor

def _load(caller: Caller) -> Account:
    account = account_store.get(caller.signed_in.account_id)
    if account is None:
        raise NotFound(N_("The account no longer exists."))
    return account


def _locked(account: Account, now: datetime) -> bool:
    return bool(account.locked_until and account.locked_until > now)


def _otpauth_uri(account: Account, secret: str) -> str:
    uri: str = _totp(secret).provisioning_uri(name=account.username, issuer_name=ISSUER)
    return uri


def _factor_given(caller: Caller, account: Account) -> None:
    """The session is whole, and earlier failures (wrong passwords or codes) are forgiven: a good
    sign-in is the password and the factor together."""
    if caller.signed_in.owes_factor:
        sessions.factor_done(caller.signed_in)
    if account.failed_logins or account.lock_count or account.locked_until:
        account_store.clear_failures(account)


def enroll(caller: Caller, *, keep_pending: bool = False) -> Enrolment:
    """A new secret, kept as the one waiting for its first code (not active until confirmed).
    `keep_pending` shows the one already waiting instead, if any (a reloaded enrolment page keeps
    the key the app may have scanned). 409 when the account already has a factor: a session that
    owes a code cannot replace the factor it owes."""
    account = _load(caller)
    if enrolled(account):
        raise Conflict(N_("The account already has an authenticator app; remove it first."), code="mfa_already_enrolled")
    if keep_pending and account.mfa_pending_secret:
        return Enrolment(account.mfa_pending_secret, _otpauth_uri(account, account.mfa_pending_secret))
    import pyotp

    secret = pyotp.random_base32()
    if not mfa_store.start_enrolment(account, secret, clock.now()):
        raise Conflict(N_("The account already has an authenticator app; remove it first."), code="mfa_already_enrolled")
    audit.record_about(caller, "mfa.enroll_start", account)
    return Enrolment(secret, _otpauth_uri(account, secret))


def confirm(caller: Caller, code: str) -> list[str]:
    """The first code from the app activates the waiting secret; the session is whole. Returns the
    ten recovery codes, the only time they are ever shown. The account's other sessions end (they
    were opened without the factor). A wrong code here does not count toward the lock: it is
    checked against a key this session was just given, so guessing it gains nothing."""
    account = _load(caller)
    if enrolled(account):
        raise Conflict(N_("The account already has an authenticator app."), code="mfa_already_enrolled")
    secret = account.mfa_pending_secret
    if not secret:
        raise Conflict(N_("Start the set-up first (POST /api/auth/mfa/enroll)."), code="mfa_not_started")
    now = clock.now()
    steps = _matching_steps(secret, code, now)
    if not steps:
        audit.record_about(caller, "mfa.enroll", account, outcome="bad_code")
        raise InvalidCode()
    shown, hashes = _new_recovery_codes()
    if not mfa_store.activate(account, secret, hashes, steps[0], now):
        raise Conflict(N_("The set-up changed meanwhile; start it again."), code="mfa_not_started")
    _factor_given(caller, account)
    # Every other session was opened without the factor: they end, this one carries on.
    ended = sessions.end_others(account.id, keep=caller.signed_in.token_hash)
    mail = account_mail.send(account, "mfa_enabled")
    audit.record_about(caller, "mfa.enroll", account, detail={"mail": mail, "sessions_ended": ended})
    return shown


ACCOUNT_READ = mfa_store.account_read


def verify(caller: Caller, *, code: str | None = None, recovery_code: str | None = None,
           account: Account | None = None) -> None:
    """A code (or a recovery code) for a session that owes one; the session is whole. Wrong codes
    count toward the lock like wrong passwords; a locked account's codes are refused unchecked.
    `account` is the caller's, when it was read with the session (ACCOUNT_READ)."""
    account, now = account or _load(caller), clock.now()
    if not enrolled(account):
        audit.record_about(caller, "mfa.verify", account, outcome="not_enrolled")
        raise InvalidCode(N_("The account has no authenticator app set up."), field="code")
    if _locked(account, now):
        audit.record_about(caller, "mfa.verify", account, outcome="locked")
        raise InvalidCode(N_("The account is locked for a while after too many wrong attempts."), field="code")
    if recovery_code is None:
        # The usual sign-in: the used step, the session made whole and the audit event in one write.
        whole = caller.signed_in.token_hash if caller.signed_in.owes_factor else None
        event = audit.new_event("mfa.verify", patient_id=audit.patient_of(account), target_id=account.id,
                                **audit.for_caller(caller))
        if _use_code(account, code or "", now, whole_session=whole, event=event):
            if account.failed_logins or account.lock_count or account.locked_until:
                account_store.clear_failures(account)
            return
        ok, detail = False, {}
    else:
        ok, left = _use_recovery_code(account, recovery_code)
        detail = {"recovery_code": True, "recovery_codes_left": left}
    if not ok:
        sign_in.record_failure(account, caller)
        audit.record_about(caller, "mfa.verify", account, outcome="bad_code", detail=detail or None)
        if recovery_code is not None:
            raise InvalidCode(N_("The recovery code is not correct (or was already used)."), field="recovery_code")
        raise InvalidCode()
    _factor_given(caller, account)
    audit.record_about(caller, "mfa.verify", account, detail=detail or None)


def remove_own(caller: Caller, current_password: str, code: str) -> None:
    """A patient removes their factor with their password and a current code (both count toward
    the lock when wrong). Staff and admins cannot: theirs is mandatory."""
    account = _load(caller)
    if is_office(account):
        audit.record_about(caller, "mfa.remove", account, outcome="forbidden")
        raise Forbidden(N_("Staff and admin accounts must keep their authenticator app; an admin can reset it."))
    if not enrolled(account):
        raise Conflict(N_("The account has no authenticator app to remove."), code="mfa_not_enrolled")
    sign_in.check_current_password(caller, account, current_password, "mfa.remove")
    now = clock.now()
    if _locked(account, now) or not _use_code(account, code, now):
        if not _locked(account, now):
            sign_in.record_failure(account, caller)
        audit.record_about(caller, "mfa.remove", account, outcome="bad_code")
        raise InvalidCode()
    mail = account_mail.send(account, "mfa_removed")
    mfa_store.remove(account, now)
    audit.record_about(caller, "mfa.remove", account, detail={"mail": mail})


def status(caller: Caller) -> dict[str, Any]:
    """For My Profile: whether a factor is set up, and how many recovery codes are left."""
    account = _load(caller)
    return {"enrolled": enrolled(account), "required": is_office(account),
            "recovery_codes_left": len(mfa_store.recovery_hashes(account)) if enrolled(account) else 0}


# ---------------------------------------------------------------- admins

def admin_reset(caller: Caller, staff_id: str) -> None:
    """An admin resets a staff member's (or admin's) factor: it is removed, their sessions end (the
    caller's own stays, when resetting their own), and their next sign-in enrols again. Mailed to
    them (no secret in it) and audited."""
    account = account_store.get(staff_id)
    if account is None or not is_office(account):
        raise NotFound(N_("No staff member with that id."))
    had_factor = enrolled(account)
    mfa_store.remove(account, clock.now())
    ended = sessions.end_others(account.id, keep=caller.signed_in.token_hash)
    mail = account_mail.send(account, "mfa_reset")
    audit.record_about(caller, "staff.mfa_reset", account,
                       detail={"had_factor": had_factor, "sessions_ended": ended, "mail": mail})
