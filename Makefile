# The two set-up commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean bench docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash examples/demo.sh

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check tandem tests bench
	$(BIN)/ruff format --check tandem tests bench

typecheck: $(STAMP)
	$(BIN)/mypy tandem tests bench

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# Benchmarks print tables (figures go to docs/benchmarks.md); they take tens of minutes.
bench: $(STAMP)
	$(BIN)/python -m bench.bench_match
	$(BIN)/python -m bench.bench_dispatch 50000 100000

clean:
	rm -rf $(VENV) build *.egg-info demo-run
