# Two commands: `make demo` and `make test` (lint, types, then the suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed$(if $(AIRFLOW_VERSION),-$(AIRFLOW_VERSION))

# The oldest Airflow release pyproject.toml admits; CI runs the suite on it as well.
AIRFLOW_OLDEST := 3.1.8

.PHONY: install install-oldest lint pytest test test-unit test-oldest demo bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml sandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./sandbox -e '.[dev]' $(if $(AIRFLOW_VERSION),'apache-airflow==$(AIRFLOW_VERSION)')
	touch $@

# ruff (rules and line length in pyproject.toml; no reformatting) and mypy: --strict on the package and
# the sandbox, slightly less strict on the tests, benchmarks and scripts (pyproject.toml says how).
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

# Two pytest-xdist workers (the real-deployment tests keep to one of them: tests/conftest.py); the
# slowest tests are listed at the end. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
pytest: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS)

test: lint pytest

# Unit tests only (no server, no process, no database; marker `integration` marks the rest): seconds, not minutes.
test-unit: install
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

# On the oldest Airflow, the tests marked `airflow`: those that meet Airflow's own APIs (DAG parsing
# and a whole daily run, operators, hooks, connections, loads through common-sql, object storage,
# lineage, install metadata, the README's first DAG); tests/conftest.py marks them by folder or the
# module says so. The rest (sandbox, pure modules, fault storms, the real-deployment tests) does not
# depend on the Airflow release and runs once, in `make test`: running it twice would push .ci/run
# past its time budget. Lint and types run once too.
install-oldest:
	$(MAKE) install VENV=.venv-airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)

test-oldest:
	$(MAKE) pytest VENV=.venv-airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST) \
		PYTEST_ARGS='-m "airflow and not deployment" $(PYTEST_ARGS)'

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) benchmarks/bench_pull.py $(BENCH_ARGS)

# The documentation (mkdocs.yml, docs/) into site/; strict: a broken link, anchor, nav entry or include fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .venv-airflow-* .demo .pytest_cache site
