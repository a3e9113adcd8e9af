"""Password hashing (Argon2id), the password policy, and temporary passwords."""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from chalicelib.errors import BadRequest

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3
# Unambiguous letters and digits: easy to read off an email and type in.
_TEMP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id, RFC 9106's low-memory profile


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


def verify(password_hash: str | None, password: str) -> bool:
    """True when the password matches. Without a hash it still pays for one, so an unknown
    username takes as long to refuse as a wrong password."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_temporary_password() -> str:
    """About 95 bits: four groups of four characters, e.g. `Kq7m-Tz2p-Hx9w-Rb4n`."""
    groups = ("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


class WeakPassword(BadRequest):
    code = "weak_password"


def _personal_words(name: str, email: str, username: str) -> list[str]:
    words = {email, email.split("@", 1)[0], username, name}
    words.update(part for part in re.split(r"[\s,.'-]+", name) if len(part) >= 3)
    return sorted(word.casefold() for word in words if word and len(word) >= 3)


def check_policy(password: str, *, name: str, email: str, username: str) -> None:
    """Raise WeakPassword naming the reason. Length 12-128, no composition rules, nothing personal,
    and zxcvbn (given the personal words) must score it 3 or more: that refuses common and
    breached passwords and their easy variations."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"new_password: use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"new_password: use at most {MAX_LENGTH} characters.")
    folded = password.casefold()
    personal = _personal_words(name, email, username)
    for word in personal:
        if word in folded:
            raise WeakPassword("new_password: must not contain your name, email address or username.")
    if zxcvbn(password[:100], user_inputs=personal)["score"] < MIN_SCORE:
        raise WeakPassword("new_password: too easy to guess; try a longer phrase of unrelated words.")
