"""The second factor's cost in DynamoDB round trips (counted by the AWS call recorder).

- round_trips_staff_sign_in_with_code: a staff member's whole sign-in, the password
  (`POST /api/auth/login`) then the code (`POST /api/auth/mfa/verify`). Floor 5: the password's 3
  (find the account by username, write the session, append the audit event) and the code's 2
  (read the session together with the account's secret; one transaction recording the used step,
  making the session whole and appending the audit event). Goal: at most one more.
- round_trips_mfa_verify: the code alone, against its floor of 2.
- round_trips_mfa_verify_recovery: a recovery code instead (reported): the session and the account
  read together, the code removed, the session made whole, the audit event.
"""

from __future__ import annotations

from bench.figures import Figure
from chalicelib.localstack.calls import recording
from tests.support.http import Api, strong_password, unique_email
from tests.support.second_factor import AUTHENTICATORS, complete_second_factor

SIGN_IN_WITH_CODE_FLOOR = 5
VERIFY_FLOOR = 2


def _dynamodb_calls(fn) -> int:
    with recording() as calls:
        fn()
    return calls.count(service="dynamodb")


def _enrolled_staff(portal) -> tuple[str, str, list[str]]:
    """A staff member of the bench's own, past the password change and enrolled: (username,
    password, recovery codes)."""
    import secrets

    admin = portal.admin
    username, email = "bench_" + secrets.token_hex(4), unique_email("bench")
    created = admin.post("/api/admin/staff", json={"username": username, "email": email, "name": "Bench Desk",
                                                    "role": "staff"})
    assert created.status_code == 201, created.text
    temporary = portal.last_temporary_password(email)
    api = Api(portal.base_url, portal.login(username, temporary).json()["token"])
    password = strong_password()
    assert api.post("/api/auth/password", json={"current_password": temporary, "new_password": password}).status_code == 204
    return username, password, complete_second_factor(api, username, "enroll")


def run(portal) -> list[Figure]:
    username, password, recovery = _enrolled_staff(portal)

    def sign_in_with_code() -> None:
        answer = portal.login(username, password)
        verified = Api(portal.base_url, answer.json()["token"]).post(
            "/api/auth/mfa/verify", json={"code": AUTHENTICATORS.code(username)})
        assert answer.json()["mfa"] == "verify" and verified.status_code == 204, verified.text

    whole = _dynamodb_calls(sign_in_with_code)
    owing = Api(portal.base_url, portal.login(username, password).json()["token"])
    code = AUTHENTICATORS.code(username)
    verify = _dynamodb_calls(lambda: owing.post("/api/auth/mfa/verify", json={"code": code}))
    owing = Api(portal.base_url, portal.login(username, password).json()["token"])
    with_recovery = _dynamodb_calls(lambda: owing.post("/api/auth/mfa/verify", json={"recovery_code": recovery[0]}))
    return [
        Figure("round_trips_staff_sign_in_with_code", whole, SIGN_IN_WITH_CODE_FLOOR,
               f"<= {round((SIGN_IN_WITH_CODE_FLOOR + 1) / SIGN_IN_WITH_CODE_FLOOR, 3)}", "round trips",
               "the password's 3 (find the account, write the session, audit) and the code's 2 (session and "
               "account read together; one transaction: used step, session whole, audit)"),
        Figure("round_trips_mfa_verify", verify, VERIFY_FLOOR, f"<= {round((VERIFY_FLOOR + 1) / VERIFY_FLOOR, 3)}",
               "round trips", "session and account read together; one transaction: used step, session whole, audit"),
        Figure("round_trips_mfa_verify_recovery", with_recovery, VERIFY_FLOOR, "(reported)", "round trips",
               "as the code's; a recovery code also removes itself and writes the session apart"),
    ]
