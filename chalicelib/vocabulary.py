"""The portal's fixed vocabularies that both doors and the services name: one declaration each,
free of any library so that reading one costs nothing at a cold start."""

from enum import StrEnum  # the standard library's, loaded by `re` already
from typing import Literal, get_args

# What a secure message is about (the request bodies offer these; the services check them).
MessageCategory = Literal["results_question", "prescription", "billing", "appointment", "other"]
MESSAGE_CATEGORIES: tuple[str, ...] = get_args(MessageCategory)


# How a call to a patient went (a critical value's call, a follow-up's).
CallOutcome = Literal["reached", "left_message", "no_answer", "wrong_number"]
CALL_OUTCOMES: tuple[str, ...] = get_args(CallOutcome)


class Role(StrEnum):
    """Who an account is. A `str` enum: stored rows, JSON answers and templates see the same strings
    (`Role.PATIENT == "patient"`), and code compares with these names, never with bare strings."""

    PATIENT = "patient"
    STAFF = "staff"
    ADMIN = "admin"
    PROXY = "proxy"  # a caregiver, reaching a patient's records through a grant
    PROVIDER = "provider"  # an office account that signs results (optional NPI); may do all staff may


# The office's roles: staff members, admins and providers (a second factor each).
OFFICE_ROLES = (Role.STAFF, Role.ADMIN, Role.PROVIDER)
