"""`make run`: the local AWS stack, the portal on http://127.0.0.1:PORT, a demo clinic.

Stops cleanly on Ctrl-C. Never deployed.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading

from chalicelib.localstack.stack import LocalStack

DEMO_STAFF = ("frontdesk", "frontdesk@clinic.example", "Front Desk")
DEMO_PATIENTS = [
    ("Maria Garcia", "1975-06-14", "maria.garcia@example.com", "MRN1001"),
    ("James Okafor", "1988-11-02", "james.okafor@example.com", "MRN1002"),
]
# A patient without an email: registered with a phone, in Spanish, with an enrolment letter to join by.
DEMO_LETTER_PATIENT = ("Rosa Delgado", "1961-08-22", "MRN1003", "(919) 555-0142")


def seed(admin_password: str) -> list[str]:
    """The first admin, a front-desk account and two invited patients. Returns lines to print."""
    from chalicelib.services.access import passwords
    from chalicelib.services.access.identity import Caller
    from chalicelib.services.accounts import letters
    from chalicelib.services.accounts import registry as accounts
    from chalicelib.store import accounts as account_store

    try:
        passwords.check_policy(admin_password, name="Clinic Administrator", email="admin@clinic.example", username="admin")
    except passwords.WeakPassword as weak:
        print(f"WARNING: PORTAL_ADMIN_PASSWORD is weak ({weak.message}); using it anyway on the local stack.")
    accounts.ensure_account("admin", "admin", admin_password, "admin@clinic.example", "Clinic Administrator",
                            enforce_policy=False)
    caller = Caller(None, "127.0.0.1")
    lines = [f"  admin       username admin        password {admin_password}"]
    staff_password = os.environ.get("PORTAL_STAFF_PASSWORD") or secrets.token_urlsafe(16)
    if account_store.find_by_username(DEMO_STAFF[0]) is None:
        accounts.ensure_account("staff", DEMO_STAFF[0], staff_password, DEMO_STAFF[1], DEMO_STAFF[2])
    lines.append(f"  staff       username {DEMO_STAFF[0]:<12} password {staff_password}")
    for name, dob, email, mrn in DEMO_PATIENTS:
        if account_store.find_by_mrn(mrn) is None:
            accounts.register_patient(caller, name=name, date_of_birth=dob, email=email, mrn=mrn)
        lines.append(f"  patient     username {email}  (temporary password in /dev/outbox)")
    name, dob, mrn, phone = DEMO_LETTER_PATIENT
    if account_store.find_by_mrn(mrn) is None:
        registered = accounts.register_patient(caller, name=name, date_of_birth=dob, email=None, mrn=mrn, phone=phone,
                                               language="es")
        letters.make_letter(caller, registered.id)
    lines.append(f"  patient     {name}, no email: her letter's code is in /dev/letters; she joins at /enrol (born {dob})")
    from chalicelib.localstack import demo_lab

    lines.append(f"  lab results {demo_lab.drop_all()} HL7 files under lab/ (Maria Garcia's HbA1c trend; a critical "
                 "potassium for James Okafor on the work queue)")
    lines += ["  " + line for line in [
        "Staff and admins sign in with a second factor, here as everywhere: at the first sign-in the",
        "portal shows a QR code and the key as text. Scan it (or type the key) into any authenticator",
        "app (TOTP, 6 digits, 30 s), enter its code, and keep the ten recovery codes. Over the API:",
        "POST /api/auth/login answers mfa \"enroll\" -> POST /api/auth/mfa/enroll -> POST /api/auth/mfa/confirm",
        "{code}; later sign-ins answer mfa \"verify\" -> POST /api/auth/mfa/verify {code} or {recovery_code}.",
        "With no phone at hand: .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('<key>').now())\" prints the code.",
    ]]
    return lines


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    admin_password = os.environ.get("PORTAL_ADMIN_PASSWORD") or secrets.token_urlsafe(16)
    stack = LocalStack(portal_port=port).start()
    from chalicelib.localstack import pump, server

    http = server.serve("127.0.0.1", port)
    lines = seed(admin_password)
    stop = threading.Event()
    workers = pump.start_all(stop)
    print(f"\nPatient portal running at http://127.0.0.1:{port}/", flush=True)
    print("Sign-ins:\n" + "\n".join(lines), flush=True)
    print(f"Mailbox: http://127.0.0.1:{port}/dev/outbox    DynamoDB Local: {stack.dynamodb_url}", flush=True)
    print(f"Texts: http://127.0.0.1:{port}/dev/texts    Enrolment letters: http://127.0.0.1:{port}/dev/letters", flush=True)
    endpoints = " ".join(f"AWS_ENDPOINT_URL_{name}={os.environ[f'AWS_ENDPOINT_URL_{name}']}"
                         for name in ("DYNAMODB", "S3", "SQS", "SESV2", "SNS"))
    print(f"Command line against this stack: env {endpoints} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "
          f"bin/portal --stage local ...", flush=True)
    print("Press Ctrl-C to stop.", flush=True)

    def shut_down(*_):
        stop.set()

    signal.signal(signal.SIGINT, shut_down)
    signal.signal(signal.SIGTERM, shut_down)
    stop.wait()
    print("\nStopping…", flush=True)
    for worker in workers:
        worker.join(timeout=5)
    http.shutdown()
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
