# Every target sets itself up from nothing: a fresh clone needs only python3 (3.10-3.13), and node/npm
# for the official-client test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
PYTEST_WORKERS ?= 2

.PHONY: venv node lint layers typecheck test test-fast docs docs-tables bench bench-smoke demo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# The official AI SDK client, pinned by tests/node/package-lock.json. Skipped (the tests say why)
# where npm is absent.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the official-client tests will be skipped"; fi

node: $(NODE_STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The dependency direction of DESIGN.md ([tool.importlinter]) and declared = imported dependencies
# ([tool.deptry]).
layers: venv
	$(BIN)/lint-imports
	$(BIN)/deptry .

typecheck: venv
	$(BIN)/mypy

# Benchmarks are not tests: the two smoke runs that start a local Airflow are left to bench-smoke.
test: venv node lint layers typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q -m "not bench"

test-fast: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q -m "not slow and not bench"

docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

# The family tables committed in docs/ (parameters, models, facts), rewritten from the family data.
docs-tables: venv
	$(BIN)/python docs/family_tables.py

bench: venv
	$(BIN)/python -m benchmarks

# Every benchmark at tiny sizes, the ones on a local Airflow included (about three minutes).
bench-smoke: venv
	$(BIN)/pytest -q tests/benchmarks

# The flagship DAG on a real local Airflow (scheduler + triggerer), the emulator and a local S3.
demo: venv
	$(BIN)/airflow-video-gen demo

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules site .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
