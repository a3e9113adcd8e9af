"""What the tests share besides their fixtures (tests/conftest.py), one module per concern:

- `http`: the JSON API client (`Api`), the portal over HTTP (`Portal`: sign-ins, the local mailbox,
  registered patients) and the names, addresses and passwords tests make up;
- `kept_sessions`: the one place office members' sessions are kept, for the API client, `requests`
  on the pages and Playwright;
- `second_factor`: the accounts' authenticator apps; `pages`: the pages without a browser;
- `faults`: AWS refusing a call; `app_calls`: the AWS calls the portal makes, as IAM sees them;
- `load`, `fuzz`, `followup`, `lifecycle`: the helpers of those runs and tests;
- `fakes`: in-memory stand-ins for the store, the mailer and the clock, for fast unit tests.
"""

from __future__ import annotations

import importlib
from typing import Any

# Where the names `from tests.support import ...` gave before the package: kept working (loaded on
# first use, so a unit test importing `tests.support.fakes` loads none of the HTTP helpers).
_MOVED = {
    **dict.fromkeys(("TEMP_PASSWORD_RE", "unique_email", "unique_mrn", "strong_password", "Api", "Patient", "Portal",
                     "office_alert_mails", "into_a_fresh_alert_window", "end_the_alert_window"), "http"),
    **dict.fromkeys(("Authenticators", "AUTHENTICATORS", "complete_second_factor"), "second_factor"),
    **dict.fromkeys(("aws_refuses", "a_send_to", "ses_refuses_the_next_send_to"), "faults"),
    **dict.fromkeys(("page_csrf", "signed_in_pages", "complete_second_factor_on_pages", "MFA_SECRET_RE"), "pages"),
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(f"tests.support.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'tests.support' has no attribute {name!r}")
