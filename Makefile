# Enigma — every target a new user or CI needs. `make run` and `make test` install first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install.stamp
E2E := tests/e2e
E2E_STAMP := $(E2E)/node_modules/.install.stamp
PORT ?= 8400

.PHONY: install run test test-fast lint format type bench chaos dev clean

install: $(STAMP) $(E2E_STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# axe-core for the browser tests' accessibility checks, injected by Playwright (never served);
# reinstalled only when the lock file changes. npm ci empties node_modules, stamp included.
$(E2E_STAMP): $(E2E)/package.json $(E2E)/package-lock.json
	npm ci --prefix $(E2E) --no-audit --no-fund --loglevel=error
	@touch $(E2E_STAMP)

run: install  ## the service on the sandbox: prints the URL, a demo token and how to start a run
	$(BIN)/enigma serve --port $(PORT)

test: install  ## every suite, slow ones included
	$(BIN)/python -m pytest -q -n auto --dist loadfile

test-fast: install
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "not slow"

lint: install
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench

format: install
	$(BIN)/ruff format backend tests bench
	$(BIN)/ruff check --fix backend tests bench

type: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

chaos: install
	$(BIN)/python -m bench.chaos

dev: install  ## LangGraph Studio against the sandbox
	$(BIN)/enigma studio

clean:
	rm -rf $(VENV) data/run .pytest_cache .mypy_cache .ruff_cache backend/*.egg-info build dist $(E2E)/node_modules
