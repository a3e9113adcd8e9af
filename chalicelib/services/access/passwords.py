"""Password hashing (Argon2id), the password policy, and temporary passwords."""

from __future__ import annotations

import re
import secrets
from functools import cache, lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chalicelib.errors import BadRequest
from chalicelib.i18n import N_
from chalicelib.settings import get_settings

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3
_ZXCVBN_MAX = 72
# Unambiguous letters and digits: easy to read off an email and type in.
_TEMP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

@cache
def _hasher() -> PasswordHasher:
    """Argon2id at the cost the settings give (by default RFC 9106's low-memory profile)."""
    settings = get_settings()
    return PasswordHasher(time_cost=settings.password_hash_time_cost, memory_cost=settings.password_hash_memory_kib,
                          parallelism=4)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(24))


def verify(password_hash: str | None, password: str) -> bool:
    """True when the password matches. Without a hash it still pays for one, so an unknown
    username takes as long to refuse as a wrong password."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_TEMP_SHAPE = re.compile(rf"^[{_TEMP_ALPHABET}]{{4}}(?:-[{_TEMP_ALPHABET}]{{4}}){{3}}$")


def new_temporary_password() -> str:
    """About 93 bits: four groups of four characters, e.g. `Kq7m-Tz2p-Hx9w-Rb4n`."""
    groups = ("".join(secrets.choice(_TEMP_ALPHABET) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


def looks_temporary(password: str) -> bool:
    """Temporary passwords have a shape no chosen password may have, so sign-in knows which one
    hash to check and every attempt costs exactly one Argon2 verification."""
    return bool(_TEMP_SHAPE.match(password))


class WeakPassword(BadRequest):
    code = "weak_password"


def _personal_words(name: str, email: str, username: str) -> list[str]:
    """The name, email, its local part and the username (3 characters or more), and the pieces of
    the name and of the local parts (4 or more: short pieces like "com" would refuse too much)."""
    local_part = email.split("@", 1)[0]
    words = {word for word in (email, local_part, username, name) if len(word) >= 3}
    for whole in (name, local_part, username.split("@", 1)[0]):
        words.update(piece for piece in re.split(r"[\s,.'_+-]+", whole) if len(piece) >= 4)
    return sorted({word.casefold() for word in words})


def check_policy(password: str, *, name: str, email: str, username: str) -> None:
    """Raise WeakPassword naming the reason. Length 12-128, no composition rules, nothing personal,
    and zxcvbn (given the personal words) must score it 3 or more: that refuses common and
    breached passwords and their easy variations."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(N_("Use at least {count} characters."), field="new_password", params={"count": MIN_LENGTH})
    if len(password) > MAX_LENGTH:
        raise WeakPassword(N_("Use at most {count} characters."), field="new_password", params={"count": MAX_LENGTH})
    if looks_temporary(password):
        raise WeakPassword(N_("That looks like a temporary password; choose one of your own."), field="new_password")
    folded = password.casefold()
    personal = _personal_words(name, email, username)
    for word in personal:
        if word in folded:
            raise WeakPassword(N_("Must not contain your name, email address or username."), field="new_password")
    # zxcvbn refuses (raises on) more than 72 characters, and its cost grows with length:
    # the first 72 say enough about how guessable the whole is.
    from zxcvbn import zxcvbn  # its word lists load on the first password check, not every cold start

    if zxcvbn(password[:_ZXCVBN_MAX], user_inputs=personal)["score"] < MIN_SCORE:
        raise WeakPassword(N_("Too easy to guess; try a longer phrase of unrelated words."), field="new_password")
