# Two commands do all set-up from a fresh clone:
#   make demo   the example on the embedded defaults (in-memory backend, filesystem store)
#   make test   everything the suite needs (Python packages with moto's S3 server, Azurite from npm,
#               redis-server and headless Chromium from apt), then lint, types and tests
# Other targets: make lint, make bench (comparisons with durabletask), make load, make clean.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --quiet
PYTEST_ARGS ?=

.PHONY: demo test lint bench load clean redis-server chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps make re-runs instant; they are redone when pyproject.toml changes.
$(VENV)/.demo-deps: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

# The dev tooling is a PEP 735 dependency group ([dependency-groups] in pyproject.toml), which pip
# installs from 25.1 on: upgrade the venv's pip first (a venv starts with the interpreter's own pip).
$(VENV)/.test-deps: pyproject.toml | $(PY)
	$(PIP) install --upgrade "pip>=25.1"
	$(PIP) install -e . --group dev
	touch $@

# Azurite, pinned in package-lock.json, into ./node_modules (never a global install).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# redis-server from Debian's packages, only when it is missing (sudo only when not root).
redis-server:
	@command -v redis-server >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo apt-get install -y redis-server; \
	}

# Headless Chromium from Debian's packages, for the viewer's browser tests, only when missing
# (sudo only when not root). Playwright drives it; `playwright install` is never run.
chromium:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update && $$sudo apt-get install -y chromium-headless-shell; \
	}

demo: $(VENV)/.demo-deps
	$(PY) examples/large_payload/app.py

lint: $(VENV)/.test-deps
	$(PY) -m ruff check durabletask_payloads tests examples benchmarks
	$(PY) -m ruff format --check durabletask_payloads tests examples benchmarks
	$(PY) -m mypy

# pytest exits 5 when it collected no test; like any non-zero status, that fails the target.
# Line coverage of durabletask_payloads, subprocesses included ([tool.coverage] in pyproject.toml).
# The floor there is the whole suite's figure: a run narrowed with PYTEST_ARGS prints its figure
# and is not held to it.
test: $(VENV)/.test-deps node_modules/.package-lock.json redis-server chromium lint
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest $(PYTEST_ARGS)
	$(PY) -m coverage combine --quiet
	$(PY) -m coverage report $(if $(PYTEST_ARGS),--fail-under=0)

bench: $(VENV)/.test-deps node_modules/.package-lock.json
	$(PY) benchmarks/run.py

# 200 orchestrations at once on Azurite (a load run, not a comparison), then 1, 2 and 4 worker
# processes on one backend and one store (Azurite and the filesystem), as a table.
load: $(VENV)/.test-deps node_modules/.package-lock.json
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_processes.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.*
