"""Caregivers (proxy access): grants, the access check a caregiver's every request makes, and the
patient's "who viewed my record".

A caregiver is an account of its own (role `proxy`) with grants: one per patient, with a scope
(`read`, or `read_and_message`) and an optional last day. Every request a caregiver makes for a
patient reads that grant (`resolve`, called by the front door): revoked, expired or absent, the
answer is the same 404 as for an unknown id. A caregiver never acts as the patient: the trail
records the caregiver as the actor and the patient as whose record it was.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, cast

from chalicelib.clock import clock, iso, parse_iso, zone
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited
from chalicelib.i18n import N_
from chalicelib.observability import logger
from chalicelib.services import audit
from chalicelib.services.access import ratelimit, temporary_passwords
from chalicelib.services.access.identity import Caller
from chalicelib.services.access.sessions import Principal
from chalicelib.services.accounts import account_mail
from chalicelib.services.accounts import registry as accounts
from chalicelib.services.answers import Created
from chalicelib.services.caregivers.answers import (
    AccessEvent,
    AccessLog,
    CaredFor,
    GrantStatus,
    MyAccount,
    OfficeProxy,
    OfficeStatus,
    Proxy,
    Scope,
    UnusableReason,
)
from chalicelib.services.publication.answers import ItemSummary
from chalicelib.settings import get_settings
from chalicelib.store import accounts as account_store
from chalicelib.store import audit as audit_store
from chalicelib.store import grants as grant_store
from chalicelib.store import imports as import_store
from chalicelib.store import items as item_store
from chalicelib.store import messages as message_store
from chalicelib.store.accounts import UniqueTaken
from chalicelib.store.base import RowRead, read_together
from chalicelib.vocabulary import Role

PROXY = Role.PROXY
SCOPES = grant_store.SCOPES
# What a caregiver's request needs beyond reading: `route(..., needs="message")`, `acting_for(..., needs=MESSAGE)`.
MESSAGE = "message"
ACTIVE, EXPIRED, REVOKED, UNUSABLE = "active", "expired", "revoked", grant_store.UNUSABLE
_HOUR, _DAY = 3600, 24 * 3600


def today() -> date:
    """The clinic's date now (CLINIC_TIME_ZONE): a grant works through its last day there."""
    return clock.now().astimezone(zone(get_settings().clinic_time_zone)).date()


def status_of(grant: Any) -> str:
    """active, revoked, expired (a grant past its last day stops working by itself), or unusable
    (given to an address that signs in to another kind of account: it lets no one in)."""
    if grant.status == grant_store.REVOKED:
        return REVOKED
    if grant.status == grant_store.UNUSABLE:
        return UNUSABLE
    if grant.expires_on and date.fromisoformat(grant.expires_on) < today():
        return EXPIRED
    return ACTIVE


# ---------------------------------------------------------------- the access check

# The longest patient id a caregiver may name; a longer one is the 404 of an unknown id, unread.
MAX_PATIENT_ID = 100


def nameable(patient_id: str | None) -> bool:
    """Whether `patient_id` could be a patient's id at all (else no grant is read for it)."""
    return patient_id is not None and 0 < len(patient_id) <= MAX_PATIENT_ID


def grant_read(patient_id: str, caregiver_id: str) -> RowRead:
    """The grant of this pair, as a read to make together with others (the session's round trip)."""
    return grant_store.read(patient_id, caregiver_id)


def access_reads(patient_id: str, caregiver_id: str) -> tuple[RowRead, RowRead]:
    """What a caregiver's request for `patient_id` is checked against (`check`), as reads to make
    in the session's round trip: the grant of the pair, and the state of the patient's account
    (while their portal access is closed, no grant of theirs works)."""
    return grant_read(patient_id, caregiver_id), account_store.state_read(patient_id)


def check(access: tuple[Any, Any], needs: str | None = None) -> Any:
    """The grant if it lets its caregiver act now, from what `access_reads` found (the grant, the
    patient's state): no grant, a revoked or unusable one, one past its last day, or a patient whose
    portal access is closed is the 404 of an unknown id; `needs` MESSAGE and a read-only grant, a 403."""
    grant, patient = access
    if grant is None or status_of(grant) != ACTIVE or patient is None or patient.disabled:
        raise NotFound(N_("No patient with that id."))
    if needs == MESSAGE and grant.scope != grant_store.READ_AND_MESSAGE:
        raise Forbidden(N_("Your caregiver access lets you read this patient's records, not send messages."))
    return grant


def resolve(principal: Principal, patient_id: str | None, needs: str | None = None,
            also: RowRead | None = None) -> tuple[Any, Any]:
    """The grant that lets caregiver `principal` act for `patient_id` now, read (with the patient's
    state and `also`, a row of that patient's, in the same round trip) and checked (`check`).
    Returns (the grant, the row)."""
    if not patient_id or not nameable(patient_id):
        raise NotFound(N_("No patient with that id."))
    reads = [*access_reads(patient_id, principal.account_id)] + ([also] if also else [])
    found = read_together(*reads)
    return check((found[0], found[1]), needs), (found[2] if also else None)


# ---------------------------------------------------------------- grants

def _valid_grant(name: str, email: str, relationship: str, scope: str, expires_on: str | None) -> tuple[str, str, str]:
    name, relationship = name.strip(), relationship.strip()
    if not name:
        raise BadRequest(N_("Must not be blank."), field="name", code="invalid_request")
    if not relationship:
        raise BadRequest(N_("Must not be blank."), field="relationship", code="invalid_request")
    if scope not in SCOPES:
        raise BadRequest(N_("Must be read or read_and_message."), field="scope", code="invalid_request")
    if expires_on:
        try:
            last_day = date.fromisoformat(expires_on)
        except ValueError:
            raise BadRequest(N_("Must be a date like 2027-06-30."), field="expires_on", code="invalid_request") from None
        if last_day < today():
            raise BadRequest(N_("Must not be in the past."), field="expires_on", code="invalid_request")
    return name, accounts.valid_email(email).strip(), relationship


def _same_work_as_a_new_account() -> None:
    """A grant to an address that has an account costs the Argon2 hash a new caregiver's temporary
    password costs: how long the answer takes says nothing about the address either."""
    temporary_passwords.new(get_settings().invitation_hours)


def _caregiver_account(caller: Caller, name: str, email: str,
                       existing: account_store.Account | None) -> tuple[account_store.Account, str]:
    """The caregiver's account (`existing`, found by its username, the email), created with a
    temporary password when there is none; and that password ("" for an existing account), for the
    mail ("caregiver_invitation" with the password to a new account, "caregiver_access" to an
    existing one)."""
    if existing is not None:
        _same_work_as_a_new_account()
        return existing, ""
    hours = get_settings().invitation_hours
    account, temporary = accounts.new_account(role=PROXY, username=email, name=name, email=email,
                                               temporary_hours=hours)
    account.id = "c_" + secrets.token_hex(10)
    account.search_shard = None  # caregivers are neither in the patient search nor the staff list
    try:
        account_store.create(account)
    except UniqueTaken:
        raise Conflict(N_("This address was just taken; try again."), field="email", code="username_taken") from None
    audit.record_about(caller, "proxy.account_create", account)
    return account, temporary or ""


def first_name(name: str) -> str:
    """How a caregiver's mail names the patient: the first word of their name only."""
    words = name.split()
    return words[0] if words else ""


def grant(caller: Caller, patient_id: str, *, name: str, email: str, relationship: str, scope: str,
          expires_on: str | None = None) -> Created:
    """Give a caregiver access to a patient's records (by the patient, or by the office for them).
    The caregiver is mailed (the clinic and the patient's first name, nothing medical); so is the patient. Granting again
    to a caregiver whose grant is live changes it (scope, end date, the names shown): the same
    grant, audited and mailed to the patient as a change."""
    patient = accounts.get_patient(patient_id)
    name, email, relationship = _valid_grant(name, email, relationship, scope, expires_on)
    _count_grant(caller, patient.id)
    existing, now = account_store.find_by_username(email), clock.now()
    if existing is not None and existing.role != PROXY:
        return _unusable_grant(caller, patient, name=name, email=email, relationship=relationship, scope=scope,
                               expires_on=expires_on, now=now)
    caregiver, temporary = _caregiver_account(caller, name, email, existing)
    grant_id = grant_store.grant_id(patient.id, caregiver.id)
    live = None if temporary else grant_store.get(grant_id)
    changing = live is not None and status_of(live) == ACTIVE
    row = grant_store.Grant(grant_id, patient_id=patient.id,
                            caregiver_id=caregiver.id, name=name, email=email, relationship=relationship,
                            scope=scope, expires_on=expires_on or None, status=grant_store.ACTIVE,
                            granted_by=caller.actor_id or "",
                            created_at=live.created_at if live is not None and changing else now,
                            revoked_at=None)
    grant_store.put(row)
    if temporary:
        mail = account_mail.send(caregiver, "caregiver_invitation", username=caregiver.username,
                                 temporary_password=temporary, hours=get_settings().invitation_hours,
                                 patient_first_name=first_name(patient.name))
    else:
        mail = account_mail.send(caregiver, "caregiver_access", to=email, patient_first_name=first_name(patient.name))
    patient_mail = account_mail.send(patient, "caregiver_changed", change="changed" if changing else "granted")
    audit.record_for(caller, "proxy.change" if changing else "proxy.grant", patient_id=patient.id,
                     target_id=caregiver.id,
                     detail={"scope": scope, "expires_on": expires_on or None, "caregiver_mail": mail,
                             "patient_mail": patient_mail, "new_account": bool(temporary)})
    return {"id": row.id}


def _grants_key(patient_id: str) -> str:
    return f"grants#{patient_id}"


def _mails_key(patient_id: str) -> str:
    return f"caregiver-mails#{patient_id}"


def _count_grant(caller: Caller, patient_id: str) -> None:
    """A grant counts against the patient's grants of the hour and, as the mail it sends to the
    caregiver's address (an invitation to a new address, a notice to a caregiver's), against the
    mails their grants may send in a day; both before the address is looked at, so the limits say
    nothing about it. Past either: 429 with Retry-After, nothing granted or mailed."""
    settings = get_settings()
    allowed, retry_after = ratelimit.hit(_grants_key(patient_id), settings.grants_per_patient_per_hour, _HOUR)
    outcome = None if allowed else "rate_limited"
    if allowed:
        allowed, retry_after = ratelimit.hit(_mails_key(patient_id), settings.caregiver_mails_per_patient_per_day,
                                             _DAY)
        outcome = None if allowed else "mail_limit"
    if outcome:
        audit.record_for(caller, "proxy.grant", outcome=outcome, patient_id=patient_id)
        logger.info("caregiver grant refused", extra={"patient_id": patient_id, "outcome": outcome})
        raise RateLimited(retry_after)


def mails_counted(patient_id: str) -> int:
    """The mails the patient's grants have counted today (see `_count_grant`)."""
    [counted] = read_together(ratelimit.count_read(_mails_key(patient_id), _DAY))
    return int(counted)


def _unusable_grant(caller: Caller, patient: account_store.Account, *, name: str, email: str, relationship: str,
                    scope: str, expires_on: str | None, now: datetime) -> Created:
    """A grant to an address that signs in to another kind of account (a patient's, the office's):
    answered as any grant is, and kept, but it lets no one in and mails that address nothing. Its
    caregiver id is made from the address in the shape of a caregiver's, so its grant id is shaped
    like any other; the patient is told of the grant as usual, the office sees why it is unusable."""
    _same_work_as_a_new_account()
    stand_in = "c_" + hashlib.sha256(b"unusable:" + email.casefold().encode()).hexdigest()[:20]
    row = grant_store.Grant(grant_store.grant_id(patient.id, stand_in), patient_id=patient.id, caregiver_id=stand_in,
                            name=name, email=email, relationship=relationship, scope=scope,
                            expires_on=expires_on or None, status=grant_store.UNUSABLE,
                            reason=grant_store.ANOTHER_KIND_OF_ACCOUNT, granted_by=caller.actor_id or "",
                            created_at=now, revoked_at=None)
    grant_store.put(row)
    patient_mail = account_mail.send(patient, "caregiver_changed", change="granted")
    audit.record_for(caller, "proxy.grant", outcome="unusable", patient_id=patient.id,
                     detail={"scope": scope, "reason": grant_store.ANOTHER_KIND_OF_ACCOUNT,
                             "patient_mail": patient_mail})
    logger.info("caregiver grant unusable", extra={"patient_id": patient.id,
                                                    "reason": grant_store.ANOTHER_KIND_OF_ACCOUNT})
    return {"id": row.id}


def shown_status(grant: Any) -> str:
    """The status the patient sees: an unusable grant looks like any live one to them (its own
    status would say whether the address has an account); the office sees it as it is."""
    status = status_of(grant)
    return ACTIVE if status == UNUSABLE else status


def grant_json(grant: grant_store.Grant) -> Proxy:
    return {"id": grant.id, "name": grant.name, "email": grant.email, "relationship": grant.relationship,
            "scope": cast(Scope, grant.scope), "status": cast(GrantStatus, shown_status(grant)),
            "expires_on": grant.expires_on,
            "created_at": iso(grant.created_at), "revoked_at": iso(grant.revoked_at)}


def office_grants(caller: Caller, patient_id: str) -> list[OfficeProxy]:
    """A patient's grants as the office sees them (their caregivers page and API): each one's real
    status (an unusable grant says why), and the caregiver's account, whether it is open. A view of
    the patient's record: it is in their "who viewed my record"."""
    patient = accounts.get_patient(patient_id)
    rows = sorted(grant_store.for_patient(patient.id), key=lambda g: g.created_at, reverse=True)
    real = {g.caregiver_id for g in rows if g.status != grant_store.UNUSABLE}
    caregivers = import_store.accounts_by_id(real) if real else {}
    audit.record_for(caller, "patient.caregivers_view", patient_id=patient.id, target_id=patient.id)
    answer: list[OfficeProxy] = []
    for row in rows:
        account = caregivers.get(row.caregiver_id)
        shown = grant_json(row)
        answer.append({"id": shown["id"], "name": shown["name"], "email": shown["email"],
                       "relationship": shown["relationship"], "scope": shown["scope"],
                       "status": cast(OfficeStatus, status_of(row)), "expires_on": shown["expires_on"],
                       "created_at": shown["created_at"], "revoked_at": shown["revoked_at"],
                       "reason": cast(UnusableReason | None, row.reason),
                       "caregiver_id": account.id if account is not None else None,
                       "caregiver_active": account.disabled_at is None if account is not None else None})
    return answer


def grants_of_patient(patient_id: str) -> list[Proxy]:
    rows = sorted(grant_store.for_patient(patient_id), key=lambda g: g.created_at, reverse=True)
    return [grant_json(g) for g in rows]


def list_for_patient(caller: Caller) -> list[Proxy]:
    return grants_of_patient(caller.own_patient_id)


def revoke(caller: Caller, grant_key: str) -> None:
    """A patient ends one of their grants at once (the caregiver's next request answers 404).
    Another patient's id, or an unknown one, answers 404; revoking twice is the same 204."""
    _revoke(caller, caller.patient_id, grant_key, clock.now())


def revoke_for_patient(caller: Caller, patient_id: str, grant_key: str) -> None:
    """The office ends one of a patient's grants, as the patient would (the patient is mailed, the
    trail names the staff member). An unknown patient, or a grant of another patient's, is a 404."""
    patient = accounts.get_patient(patient_id)
    _revoke(caller, patient.id, grant_key, clock.now(), patient)


def _revoke(caller: Caller, patient_id: str | None, grant_key: str, now: datetime,
            patient: account_store.Account | None = None) -> None:
    """`patient` is the patient's account when the caller has read it already (it is mailed)."""
    row = grant_store.get(grant_key) if len(grant_key) <= 200 else None
    if row is None or row.patient_id != patient_id:
        audit.record_for(caller, "proxy.revoke", outcome="not_found", target_id=grant_key[:100])
        raise NotFound(N_("No caregiver with that id."))
    if not grant_store.revoke(row, now):
        return
    patient_mail = account_mail.send(patient or accounts.get_patient(row.patient_id), "caregiver_changed",
                                     change="revoked")
    audit.record_for(caller, "proxy.revoke", patient_id=row.patient_id, target_id=row.caregiver_id,
                     detail={"patient_mail": patient_mail})


def me(principal: Principal) -> MyAccount:
    """The signed-in account (`GET /api/me`); a caregiver's carries the patients they care for now."""
    answer = cast(MyAccount, accounts.me(principal))
    if principal.role == PROXY:
        answer["patients"] = patients_of(principal.account_id)
    return answer


def patients_of(caregiver_id: str) -> list[CaredFor]:
    """The patients a caregiver cares for now (live grants only): `{id, name, scope, relationship, expires_on}`."""
    live = [g for g in grant_store.for_caregiver(caregiver_id) if status_of(g) == ACTIVE]
    names = import_store.accounts_by_id(g.patient_id for g in live) if live else {}
    # a patient whose portal access is closed is no one's to care for while it is
    live = [g for g in live if g.patient_id in names and names[g.patient_id].disabled_at is None]
    answer: list[CaredFor] = [{"id": g.patient_id, "name": names[g.patient_id].name if g.patient_id in names else "",
                                "scope": cast(Scope, g.scope), "relationship": g.relationship,
                                "expires_on": g.expires_on} for g in live]
    return sorted(answer, key=lambda p: p["name"].casefold())


def items_for(caller: Caller) -> list[ItemSummary]:
    """The item list of the patient a caregiver acts for (the pages; the API reads it with the
    grant), its look recorded for the patient as the API's is."""
    from chalicelib.services.publication import items

    return items.list_for_patient(caller)


# One BatchGetItem reads at most this many rows.
_BATCH = 100


def author_labels(caregiver_ids: Iterable[str], patient_id: str, patient_name: str | None) -> dict[str, str]:
    """How the office is told who wrote a caregiver's message, by caregiver id: "Ana Ruiz, mother,
    for Leo Ruiz" (none for a caregiver with no grant of the patient). The grants are read together;
    the patient's name is the one the caller has already read."""
    wanted = sorted(set(caregiver_ids))
    rows = [row for start in range(0, len(wanted), _BATCH)
            for row in read_together(*(grant_read(patient_id, c) for c in wanted[start:start + _BATCH]))]
    shown = patient_name or "the patient"
    return {caregiver: f"{row.name}, {row.relationship}, for {shown}"
            for caregiver, row in zip(wanted, rows, strict=True) if row is not None}


# ---------------------------------------------------------------- who viewed my record

# The actions that are a view of a patient's records (their items, files, messages, the record).
VIEW_ACTIONS = ("patient.view", "document.view", "document.staff_view", "document.file_link", "message.open",
                "message.list", "item.list", "patient.caregivers_view", "audit.view")
# A look at a whole list, or at the record's caregivers or its trail: no one item's title.
LIST_ACTIONS = ("message.list", "item.list", "patient.caregivers_view", "audit.view")
PAGE_SIZE = 50


def _item_titles(target_ids: set[str]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for target in target_ids:
        item = item_store.get(target)
        if item is not None:
            titles[target] = (item_store.RETRACTED_TITLE if item_store.status_of(item) == item_store.RETRACTED
                              else item.title)
            continue
        thread = message_store.get(target)
        if thread is not None:
            titles[target] = thread.subject
    return titles


def access_log(caller: Caller, cursor: str | None = None, limit: int = PAGE_SIZE) -> AccessLog:
    """Every view of the caller's records by anyone else, newest first, a page at a time (a Query
    of the trail's patient index, never a scan). `cursor` is the `next_cursor` of the page before."""
    patient_id = caller.own_patient_id
    before = None
    if cursor:  # an event id, "<time>#<sequence and random>", with "." for its "#" (safe in a query string)
        before = "#".join(cursor.rsplit(".", 1))
        try:
            parse_iso(before.split("#", 1)[0])
        except ValueError:
            raise BadRequest(N_("Not a cursor this list gave."), field="cursor", code="invalid_request") from None
    rows, last_id = audit_store.views_of_patient(patient_id, VIEW_ACTIONS, before=before, limit=limit)
    next_cursor = last_id.replace("#", ".", 1) if last_id else None
    names = import_store.accounts_by_id({r.actor_id for r in rows if r.actor_id}) if rows else {}
    titles = _item_titles({r.target_id for r in rows if r.target_id and r.target_id != patient_id
                           and r.action not in LIST_ACTIONS})
    events: list[AccessEvent] = []
    for row in rows:
        actor = names.get(row.actor_id or "")
        events.append({"at": iso(row.at), "actor_name": actor.name if actor else None, "actor_role": row.actor_role,
                       "action": row.action, "item_title": titles.get(row.target_id or "")})
    return {"events": events, "next_cursor": next_cursor}
