# Enigma — every target a new user or CI needs. `make run` and `make test` install first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install.stamp
PORT ?= 8400

.PHONY: install run test test-fast lint format type bench chaos dev clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

run: install  ## the service on the sandbox: prints the URL, a demo token and how to start a run
	$(BIN)/enigma serve --port $(PORT)

test: install  ## every suite, slow ones included
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

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
	rm -rf $(VENV) data/run .pytest_cache .mypy_cache .ruff_cache backend/*.egg-info
