# Every target sets itself up from nothing: a fresh clone needs only python3 (3.10-3.13), and node/npm
# for the official-client test. PYTHON=python3.12 makes .venv with another Python.
PYTHON ?= python3
# The Python of .venv (3.11 for python3.11) and the pins of that version: constraints/ has one file per
# supported Python, written by `make constraints`.
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null)
CONSTRAINTS := constraints/constraints-$(or $(PY_VERSION),unknown).txt
SUPPORTED_PYTHONS = $(shell $(PYTHON) scripts/make_constraints.py --supported)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# make test-pythons: one venv per other supported Python, kept between runs.
VENVS := .venvs
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
# xdist workers of make test: the tests wait (emulator latencies, polls, a local Airflow) about a
# third of the time, so three workers keep two cores busy. Four ended no sooner from a fresh clone
# (1,047 s against 1,049 s): the long stacks only ran slower side by side. The static checks run
# before the tests: run beside them, the tests took 1,169 s from a fresh clone.
PYTEST_WORKERS ?= 3

.PHONY: venv node system-packages lint layers typecheck test test-fast test-pythons constraints docs docs-tables bench \
	bench-smoke demo clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@# A .venv of another Python (PYTHON changed) is made anew rather than mixed.
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PY_VERSION)" ]; then \
		echo "$(VENV) is not Python $(PY_VERSION): making it anew"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	@# The editable build leaves airflow_video_gen.egg-info in the checkout: a process with the checkout
	@# on sys.path would see this distribution twice, and the Task SDK's plugin loader stops at the
	@# first plugin it sees twice, dropping every later one (OpenLineage's among them).
	rm -rf airflow_video_gen.egg-info
	touch $(STAMP)

# An interpreter without a constraints file is not a supported one.
constraints/constraints-%.txt:
	@if [ -z "$(PY_VERSION)" ]; then echo "PYTHON=$(PYTHON) does not run." >&2; \
	else echo "Python $* is not supported: there is no $@." >&2; fi
	@echo "Supported: $(patsubst constraints/constraints-%.txt,%,$(wildcard constraints/constraints-*.txt));" \
		"for instance: make $(MAKECMDGOALS) PYTHON=python3.11" >&2
	@exit 1

venv: $(STAMP)

# Rewrites constraints/constraints-<X.Y>.txt for every supported Python installed here: a fresh venv
# per Python installs .[dev] with the pins of constraints-3.11.txt that exist for it, then pip freeze.
# Run it after changing a dependency in pyproject.toml (about 10 minutes with a warm pip cache).
constraints:
	$(PYTHON) scripts/make_constraints.py

# The official AI SDK client, pinned by tests/node/package-lock.json. Skipped (the tests say why)
# where npm is absent.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the official-client tests will be skipped"; fi

node: $(NODE_STAMP)

# Debian packages the tests start for real: redis-server (the CeleryExecutor's broker), chromium and
# its chromedriver (the gallery's browser test). Installed only when missing; needs root or sudo.
SYSTEM_PACKAGES := redis-server:redis-server chromium:chromium chromedriver:chromium-driver
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
		else echo "system-packages: missing$$missing and not root: install them with apt-get" >&2; exit 1; fi; \
		echo "system-packages: installing$$missing (apt-get)"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

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
test: venv node system-packages lint layers typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q -m "not bench" --durations=25

# The unit tests on every other supported Python, each in its own venv under .venvs/ with the pins of
# its version (a Python not installed here is skipped, and said so).
test-pythons:
	@failed=""; for v in $(filter-out $(PY_VERSION),$(SUPPORTED_PYTHONS)); do \
		if ! $(PYTHON) scripts/make_constraints.py --which $$v >/dev/null 2>&1; then \
			echo "test-pythons: Python $$v is not installed here (python$$v, pyenv): skipped"; continue; fi; \
		echo "test-pythons: Python $$v"; \
		if ! { $(MAKE) --no-print-directory $(VENVS)/py$$v/.installed && \
			$(VENVS)/py$$v/bin/pytest -q -p no:xdist tests/unit; }; then failed="$$failed $$v"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "test-pythons: failed on Python$$failed"; exit 1; fi

$(VENVS)/py%/.installed: pyproject.toml constraints/constraints-%.txt
	rm -rf $(VENVS)/py$*
	"$$($(PYTHON) scripts/make_constraints.py --which $*)" -m venv $(VENVS)/py$*
	$(VENVS)/py$*/bin/pip install --quiet --upgrade pip
	$(VENVS)/py$*/bin/pip install --quiet -c constraints/constraints-$*.txt -e ".[dev]"
	rm -rf airflow_video_gen.egg-info
	touch $@

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
	rm -rf $(VENV) $(VENVS) $(NODE_DIR)/node_modules site .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
