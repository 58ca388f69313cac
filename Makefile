# One entry point for set-up, the demo, the checks and the tests, locally and in CI.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast check bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11) on PATH, or run: make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make run: start the embedded broker and Redis, run the demo session end to end, stop everything.
run: install
	$(BIN)/toolformer demo

## make test: install, then run the whole suite against the embedded broker and a real Redis.
test: install
	$(BIN)/python -m pytest

## make test-fast: only the tests that need no broker and no Redis (seconds, not minutes).
test-fast: install
	$(BIN)/python -m pytest -m "not connected"

## make check: ruff, mypy (strict) over the three packages and the tests, and the import
## contracts in pyproject.toml ([tool.importlinter]).
check: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@mkdir -p .typecheck/async_toolformer
	@for pkg in schemas agents streams; do ln -sfn ../../$$pkg .typecheck/async_toolformer/$$pkg; done
	$(BIN)/mypy -p async_toolformer
	$(BIN)/mypy tests

bench: install
	$(BIN)/toolformer bench pipeline

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .ruff_cache .pytest_cache
