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
	# Test-only reference for NAS-Bench-201's network (parameter counts); its own pins are ancient.
	$(BIN)/python -m pip install -q --no-deps xautodl
	touch $(STAMP)

install: $(STAMP)

## run: create the venv, install, migrate, start the API and one worker (SQLite + embedded broker)
run: install
	$(BIN)/flatnas server up

services:
	bash scripts/ensure_services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vulture  # dead code; paths and exceptions: pyproject.toml [tool.vulture], vulture_whitelist.py

typecheck: install
	$(BIN)/mypy

## test: install, start PostgreSQL/Redis if needed, lint, type-check, run every test
# Tiny test networks run fastest on one thread per process (the suite starts several processes).
test: install services lint typecheck
	OMP_NUM_THREADS=1 $(BIN)/pytest

## unit: the fast library tests only
unit: install
	OMP_NUM_THREADS=1 $(BIN)/pytest -m "not integration and not browser"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var tests/artifacts
