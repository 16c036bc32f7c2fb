# The README's commands. Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := libs/contracts libs/datasets libs/platform $(wildcard services/*) launcher
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
PYTEST_ARGS ?=

.PHONY: install web up mesh-up test test-fast lint format bench services sandbox schemas clean

install: $(VENV)/.stamp-install web

$(VENV)/.stamp-install: $(PYPROJECTS) requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	touch $@

## The web console (web/, Vite + React) built into web/dist, which the gateway serves at /.
## Skipped while web/dist/index.html is newer than every source; `npm ci` only when the
## package files changed (stamp web/node_modules/.stamp-ci).
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	$(wildcard web/index.html web/vite.config.* web/tsconfig*.json)
WEB_PACKAGES := $(wildcard web/package.json web/package-lock.json)
NPM_MISSING := make web: npm not found. The web console needs Node.js 20+ with npm (for example \
	apt-get install -y nodejs npm), or set FLAGEVAL_WEB_DIR to an existing build

web: $(if $(WEB_PACKAGES),web/dist/index.html)

web/node_modules/.stamp-ci: $(WEB_PACKAGES)
	@command -v npm >/dev/null 2>&1 || { echo "$(NPM_MISSING)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@

web/dist/index.html: web/node_modules/.stamp-ci $(WEB_SOURCES) $(WEB_PACKAGES)
	@command -v npm >/dev/null 2>&1 || { echo "$(NPM_MISSING)" >&2; exit 1; }
	cd web && npm run build
	touch $@

## Run the whole platform in one process on http://127.0.0.1:$${FLAGEVAL_PORT:-8000}
up: install sandbox
	$(PY) -m flageval_launcher up

## Run every service as its own process on PostgreSQL, RabbitMQ and an S3 server (moto)
mesh-up: install services sandbox
	$(PY) -m flageval_launcher mesh

## Start this machine's PostgreSQL and RabbitMQ when they are down (no-op when running)
services:
	@bash scripts/ensure-services.sh

## bubblewrap, the sandbox uploaded code runs in (installed as root with apt-get, else a warning)
sandbox:
	@bash scripts/ensure-sandbox.sh

test: install services sandbox
	$(PY) -m pytest $(PYTEST_ARGS)

## The quick suites only (skips the end-to-end ones)
test-fast: install services sandbox
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/contracts/src libs/datasets/src libs/platform/src $(wildcard services/*/src) launcher/src

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schemas: install
	$(PY) -m flageval_contracts.schema_export schemas

## Every benchmark under bench/ (files starting with _ are helpers, not benchmarks):
## upload.py (SPEC §10 upload speed), runner.py (harness throughput vs a server of known capacity),
## events.py (run finished → email p95), …
bench: install
	@for b in bench/[!_]*.py; do [ -f "$$b" ] || continue; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache .hypothesis web/dist web/node_modules test-artifacts
