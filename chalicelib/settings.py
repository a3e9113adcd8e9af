"""Every setting of the portal, read from the environment once.

The deployed stages get these from `.chalice/config.json`; the local stack and the tests set the
same variables. Nothing else in the code reads `os.environ`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _key(hex_key: str) -> bytes:
    """A signing key from its hex form, or a fresh random one when none is set."""
    import secrets

    return bytes.fromhex(hex_key) if hex_key.strip() else secrets.token_bytes(32)


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table_prefix: str
    results_bucket: str
    publish_queue_name: str
    mail_from: str
    office_email: str
    portal_url: str
    ses_configuration_set: str
    mail_feedback_topic: str
    follow_up_days: int
    max_notices: int
    invitation_hours: int
    reset_hours: int
    session_idle_minutes: int
    session_max_hours: int
    lockout_threshold: int
    lockout_base_minutes: int
    ses_send_rate: int
    # The office digest goes out with the first sweep at or after this hour (UTC), once a day.
    digest_hour_utc: int
    max_upload_bytes: int
    file_link_seconds: int
    forgot_password_per_account_per_hour: int
    forgot_password_per_client_per_hour: int
    # Failed sign-ins per client address per hour, across all usernames (successful ones don't
    # count): far above a clinic's shared waiting-room network, far below trying passwords
    # across many accounts.
    login_failures_per_client_per_hour: int
    # Argon2id cost: RFC 9106's low-memory profile (argon2-cffi's defaults). Only the test suite,
    # which creates hundreds of accounts, lowers it; a hash carries its own cost, so any hash verifies.
    password_hash_time_cost: int
    password_hash_memory_kib: int
    # Forgot-password requests wait here, so the request does the same work for any username.
    recovery_queue_name: str
    # Local stage only: where moto keeps what SES accepted, for /dev/outbox.
    ses_endpoint: str
    # "A patient wrote" alerts to the office: at most one per window of this many minutes, sent
    # by the schedule at the window's end (many messages in a window make one email).
    office_alert_minutes: int
    # Username changes per account per hour, attempts included: a "taken" answer tells whether a
    # name is someone's, so a signed-in account may not ask it without limit.
    username_changes_per_hour: int
    # The key that signs the signed-out forms' CSRF tokens (hex). Deployed stages set FORM_TOKEN_KEY
    # (the same for every instance); without it each process makes one of its own, which is right
    # for the local stack and the tests, whose portal is one process.
    form_token_key: bytes
    # The clinic's own time zone (an IANA name): every time a page or a mail shows is in it, with
    # the zone's abbreviation; the JSON API stays UTC.
    clinic_time_zone: str = "America/New_York"
    # Whether patients see the name of the staff member who answered, rather than "the office".
    office_names_to_patients: bool = False
    # Take-away records: the jobs that build a patient's zip wait here.
    export_queue_name: str = "portal-local-export"

    @property
    def dev_routes(self) -> bool:
        """The `/dev/*` routes exist only on the local stage."""
        return self.stage == "local"

    @property
    def secure_cookies(self) -> bool:
        return self.stage != "local"

    @property
    def publish_dead_letter_queue_name(self) -> str:
        return f"{self.publish_queue_name}-dlq"

    @property
    def recovery_dead_letter_queue_name(self) -> str:
        return f"{self.recovery_queue_name}-dlq"

    @property
    def export_dead_letter_queue_name(self) -> str:
        return f"{self.export_queue_name}-dlq"

    def table_name(self, name: str) -> str:
        return f"{self.table_prefix}-{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    stage = os.environ.get("PORTAL_STAGE", "local")
    prefix = os.environ.get("TABLE_PREFIX", f"portal-{stage}")
    return Settings(
        stage=stage,
        region=os.environ.get("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1")),
        table_prefix=prefix,
        results_bucket=os.environ.get("RESULTS_BUCKET", f"{prefix}-results"),
        publish_queue_name=os.environ.get("PUBLISH_QUEUE_NAME", f"{prefix}-publish"),
        mail_from=os.environ.get("MAIL_FROM", "portal@clinic.example"),
        office_email=os.environ.get("OFFICE_EMAIL", "office@clinic.example"),
        portal_url=os.environ.get("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
        ses_configuration_set=os.environ.get("SES_CONFIGURATION_SET", f"{prefix}-mail"),
        mail_feedback_topic=os.environ.get("MAIL_FEEDBACK_TOPIC", f"{prefix}-mail-feedback"),
        follow_up_days=_int("FOLLOW_UP_DAYS", 3),
        max_notices=_int("MAX_NOTICES", 3),
        invitation_hours=_int("TEMP_PASSWORD_HOURS", 168),
        reset_hours=_int("RESET_PASSWORD_HOURS", 24),
        session_idle_minutes=_int("SESSION_IDLE_MINUTES", 15),
        session_max_hours=_int("SESSION_MAX_HOURS", 12),
        lockout_threshold=_int("LOCKOUT_THRESHOLD", 5),
        lockout_base_minutes=_int("LOCKOUT_BASE_MINUTES", 15),
        ses_send_rate=_int("SES_SEND_RATE", 14),
        digest_hour_utc=_int("DIGEST_HOUR_UTC", 12),
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        file_link_seconds=_int("FILE_LINK_SECONDS", 300),
        forgot_password_per_account_per_hour=_int("FORGOT_PASSWORD_PER_ACCOUNT_PER_HOUR", 3),
        forgot_password_per_client_per_hour=_int("FORGOT_PASSWORD_PER_CLIENT_PER_HOUR", 20),
        login_failures_per_client_per_hour=_int("LOGIN_FAILURES_PER_CLIENT_PER_HOUR", 60),
        password_hash_time_cost=_int("PASSWORD_HASH_TIME_COST", 3),
        password_hash_memory_kib=_int("PASSWORD_HASH_MEMORY_KIB", 65536),
        recovery_queue_name=os.environ.get("RECOVERY_QUEUE_NAME", f"{prefix}-recovery"),
        ses_endpoint=os.environ.get("AWS_ENDPOINT_URL_SESV2", os.environ.get("AWS_ENDPOINT_URL", "")),
        office_alert_minutes=max(_int("OFFICE_ALERT_MINUTES", 15), 1),
        username_changes_per_hour=_int("USERNAME_CHANGES_PER_HOUR", 5),
        form_token_key=_key(os.environ.get("FORM_TOKEN_KEY", "")),
        clinic_time_zone=os.environ.get("CLINIC_TIME_ZONE", "").strip() or "America/New_York",
        office_names_to_patients=os.environ.get("OFFICE_NAMES_TO_PATIENTS", "").strip().lower() in ("1", "true", "yes"),
        export_queue_name=os.environ.get("EXPORT_QUEUE_NAME", f"{prefix}-export"),
    )
