# flatnas: `make run` starts the embedded service; `make test` runs every check a clean clone needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck services unit clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: create the venv, install, migrate, start the API and one worker (SQLite + embedded broker)
run: install
	$(BIN)/flatnas up

services:
	bash scripts/ensure_services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## test: install, start PostgreSQL/Redis if needed, lint, type-check, run every test
test: install services lint typecheck
	$(BIN)/pytest

## unit: the fast library tests only
unit: install
	$(BIN)/pytest -m "not integration and not browser"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var tests/artifacts
