"""The password policy, Argon2id hashing and temporary passwords (no AWS)."""

import hashlib
import re

import pytest
import zxcvbn as zxcvbn_module
from argon2 import PasswordHasher

from chalicelib.services.access import passwords
from chalicelib.services.access.passwords import WeakPassword, check_policy

PERSON = {"name": "Rosa Delgado", "email": "rosa.delgado@example.com", "username": "rosebud77"}
STRONG = "quiet-Harbor-lamp-72-gravel"


def refusal(password: str, **person) -> str:
    with pytest.raises(WeakPassword) as refused:
        check_policy(password, **{**PERSON, **person})
    assert refused.value.code == "weak_password"
    assert refused.value.message.startswith("new_password: ")
    return refused.value.message


def test_a_long_unrelated_passphrase_is_accepted():
    # Given a passphrase of unrelated words, 27 characters long
    # When it is checked against the policy
    # Then it passes (check_policy raises nothing)
    check_policy(STRONG, **PERSON)


def test_no_composition_rules_lowercase_words_alone_are_enough():
    # Given a passphrase in lower-case letters and spaces only
    # When it is checked
    # Then no rule asks for digits, capitals or symbols
    check_policy("correct walrus trampoline saucepan", **PERSON)


@pytest.mark.parametrize("length, accepted", [(11, False), (12, True), (128, True), (129, False)])
def test_length_must_be_12_to_128(length, accepted):
    # Given a password of random-looking characters of the given length
    password = hashlib.sha512(b"unrelated").hexdigest()[:length] + "Zq8v"[: max(0, length - 128)]
    # When it is checked
    # Then only 12..128 characters pass, and the refusal names the limit
    if accepted:
        check_policy(password, **PERSON)
    else:
        message = refusal(password)
        assert ("at least 12" in message) if length < 12 else ("at most 128" in message)


@pytest.mark.parametrize("personal", ["Rosa Delgado", "rosa.delgado@example.com", "rosa.delgado", "rosebud77", "DELGADO"])
def test_refused_when_it_contains_the_name_email_local_part_or_username(personal):
    # Given an otherwise strong password that contains something personal
    password = f"{personal}-Fjord-ember-41-sprocket"
    # When it is checked
    message = refusal(password)
    # Then the refusal says why
    assert "name, email address or username" in message


def test_refused_when_zxcvbn_scores_it_below_3():
    # Given a common password padded to the minimum length
    # When it is checked
    message = refusal("password1234")
    # Then it is too easy to guess
    assert "too easy to guess" in message


def test_zxcvbn_is_given_the_personal_words_as_user_inputs(monkeypatch):
    # Given zxcvbn wrapped to see what it is asked
    seen = {}
    real = zxcvbn_module.zxcvbn

    def spy(password, user_inputs=None):
        seen["user_inputs"] = user_inputs
        return real(password, user_inputs=user_inputs)

    # Wherever the policy takes zxcvbn from: the package at call time, or its own module name.
    monkeypatch.setattr(zxcvbn_module, "zxcvbn", spy)
    monkeypatch.setattr(passwords, "zxcvbn", spy, raising=False)
    # When a strong password is checked
    check_policy(STRONG, **PERSON)
    # Then the name, email, its local part and the username were passed in
    assert {"rosa delgado", "rosa.delgado@example.com", "rosa.delgado", "rosebud77", "delgado"} <= set(seen["user_inputs"])


def test_a_password_shaped_like_a_temporary_one_is_refused():
    # Given a fresh temporary password (random, so strong by any measure)
    temporary = passwords.new_temporary_password()
    # When someone tries to make it their own password
    message = refusal(temporary)
    # Then it is refused: a temporary password can never become the real one
    assert "temporary password" in message


def test_temporary_passwords_are_random_and_typeable():
    # Given many fresh temporary passwords
    made = [passwords.new_temporary_password() for _ in range(500)]
    # Then they are all different, in four groups of four unambiguous characters
    assert len(set(made)) == len(made)
    for temporary in made:
        assert re.fullmatch(r"[A-HJ-NP-Za-km-z2-9]{4}(-[A-HJ-NP-Za-km-z2-9]{4}){3}", temporary)
        assert passwords.looks_temporary(temporary)
    # And no ambiguous characters (0/O, 1/l/I) ever appear
    assert not set("".join(made)) & set("0O1lI")


def test_only_temporary_passwords_have_the_temporary_shape():
    # Given chosen passwords that resemble the shape
    # Then none of them is taken for a temporary password
    for chosen in (STRONG, "Kq7m-Tz2p-Hx9w", "Kq7m-Tz2p-Hx9w-Rb4n-", "kq7m tz2p hx9w rb4n", "Kq7m-Tz2p-Hx9w-Rb40"):
        assert not passwords.looks_temporary(chosen)


def test_hashes_are_argon2id_and_verify_only_the_right_password():
    # Given a hashed password
    stored = passwords.hash_password(STRONG)
    # Then it is an Argon2id hash that accepts the password and nothing else
    assert stored.startswith("$argon2id$")
    assert STRONG not in stored
    assert passwords.verify(stored, STRONG) is True
    assert passwords.verify(stored, STRONG + "x") is False


def test_verify_without_a_hash_still_pays_for_one_and_refuses(monkeypatch):
    # Given Argon2 verifications counted
    calls = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: calls.append(h) or real(self, h, p))
    # When a password is checked against no hash at all (unknown user)
    answer = passwords.verify(None, STRONG)
    # Then it is refused after exactly one real verification
    assert answer is False
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_without_a_cost_in_the_environment_hashes_use_rfc_9106s_low_memory_profile(monkeypatch):
    from chalicelib.settings import get_settings

    # Given no Argon2 cost set (as on every deployed stage; only the test suite sets one)
    monkeypatch.delenv("PASSWORD_HASH_TIME_COST", raising=False)
    monkeypatch.delenv("PASSWORD_HASH_MEMORY_KIB", raising=False)
    get_settings.cache_clear()
    passwords._hasher.cache_clear()
    try:
        # When a password is hashed
        hashed = passwords.hash_password("a long unrelated passphrase")
    finally:
        get_settings.cache_clear()
        passwords._hasher.cache_clear()

    # Then it is Argon2id with 64 MiB, three passes, four lanes, and it verifies
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(hashed, "a long unrelated passphrase")
