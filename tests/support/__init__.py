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
