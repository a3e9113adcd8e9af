"""Who asks, from where: the caller every service receives, and the role check."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.i18n import N_
from chalicelib.services.access.sessions import Principal
from chalicelib.vocabulary import Role


@dataclass(frozen=True)
class Caller:
    """Who asks, from where: what the audit trail records with each change."""

    principal: Principal | None
    client_ip: str | None
    # The browser or client as it names itself (User-Agent, cut short): what a new session records.
    user_agent: str | None = None
    # A caregiver acting for one patient: that patient's id and the live grant's scope, resolved in
    # the front door from the grant (`services/caregivers.resolve`); None for everyone else.
    acting_for: str | None = None
    scope: str | None = None

    @property
    def patient_id(self) -> str | None:
        """Whose records the caller reads as a patient: their own (a patient), or those of the
        patient a live grant lets a caregiver act for."""
        if self.acting_for:
            return self.acting_for
        return self.actor_id if self.actor_role == Role.PATIENT else None

    @property
    def actor_id(self) -> str | None:
        return self.principal.account_id if self.principal else None

    @property
    def signed_in(self) -> Principal:
        """The session's principal, on a route only a signed-in caller reaches (the front door
        answers 401 before such a route runs): never missing there."""
        if self.principal is None:
            raise Unauthenticated()
        return self.principal

    @property
    def own_patient_id(self) -> str:
        """`patient_id` on a route only a patient (or a caregiver acting for one) reaches."""
        patient_id = self.patient_id
        if patient_id is None:
            raise Forbidden(N_("Your account is not allowed to do this."))
        return patient_id

    @property
    def actor_role(self) -> str | None:
        return self.principal.role if self.principal else None


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise Forbidden(N_("Your account is not allowed to do this."))
