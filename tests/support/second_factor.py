"""The authenticator apps of the suite's accounts, and finishing a JSON API sign-in that owes its
second factor as a person's app would."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.http import Api


class Authenticators:
    """The authenticator apps of the suite's accounts: each account's secret (by username), and the
    time steps whose codes it has sent, since the portal accepts each step's code once. Codes are
    made on the portal's own clock (the portal runs in this process), so a test that moves the
    clock gets codes for its time."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._used: dict[str, set[int]] = {}
        self._lock = threading.Lock()

    def knows(self, username: str) -> bool:
        return username.casefold() in self._secrets

    def add(self, username: str, secret: str) -> None:
        with self._lock:
            self._secrets[username.casefold()] = secret
            self._used[username.casefold()] = set()

    def secret(self, username: str) -> str:
        return self._secrets[username.casefold()]

    def used(self, username: str) -> set[int]:
        with self._lock:
            return set(self._used.get(username.casefold(), ()))

    def wrong_code(self, username: str) -> str:
        """Six digits that are none of the codes the portal accepts now (or a step later)."""
        from chalicelib.clock import clock
        from chalicelib.services.access import mfa

        current = mfa.step_at(clock.now())
        valid = {mfa.code_at(self.secret(username), step) for step in range(current - 2, current + 3)}
        return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)

    def code_for_step(self, username: str, step: int) -> str:
        """The code of one given step, counted as sent."""
        from chalicelib.services.access import mfa

        with self._lock:
            self._used.setdefault(username.casefold(), set()).add(step)
            return mfa.code_at(self._secrets[username.casefold()], step)

    def code(self, username: str) -> str:
        """A code the portal has not seen yet: this step's, else the next step's (one step of drift
        is accepted), else the last step's while it is not about to end; failing all three, wait
        for the next step."""
        from chalicelib.clock import clock
        from chalicelib.services.access import mfa

        key = username.casefold()
        while True:
            with self._lock:
                now = clock.now()
                current = mfa.step_at(now)
                used = self._used.setdefault(key, set())
                seconds_into_step = now.timestamp() - current * mfa.STEP_SECONDS
                candidates = [current, current + 1] + ([current - 1] if seconds_into_step < 20 else [])
                for step in candidates:
                    if step not in used:
                        used.add(step)
                        return mfa.code_at(self._secrets[key], step)
            time.sleep(max(0.05, mfa.STEP_SECONDS - seconds_into_step + 0.05))


AUTHENTICATORS = Authenticators()


def complete_second_factor(api: Api, username: str, owed: str) -> list[str]:
    """Finish a sign-in that owes its second factor, as the person's authenticator app would:
    enrol (remembering the secret) or send a fresh code. Returns the recovery codes of an enrolment."""
    if owed == "enroll":
        started = api.post("/api/auth/mfa/enroll")
        assert started.status_code == 200, started.text
        AUTHENTICATORS.add(username, started.json()["secret"])
        confirmed = api.post("/api/auth/mfa/confirm", json={"code": AUTHENTICATORS.code(username)})
        assert confirmed.status_code == 200, confirmed.text
        return confirmed.json()["recovery_codes"]
    if owed == "verify":
        verified = api.post("/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(username)})
        assert verified.status_code == 204, verified.text
    return []
