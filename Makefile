# Two commands: `make demo` and `make test` (lint, types, then the suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed$(if $(AIRFLOW_VERSION),-$(AIRFLOW_VERSION))

# The oldest Airflow release pyproject.toml admits; CI runs the suite on it as well.
AIRFLOW_OLDEST := 3.1.8

.PHONY: install lint pytest test test-oldest demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' $(if $(AIRFLOW_VERSION),'apache-airflow==$(AIRFLOW_VERSION)')
	touch $@

# ruff (rules and line length in pyproject.toml; no reformatting) and mypy --strict on the package.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

pytest: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint pytest

# The suite on the oldest Airflow; lint and types are checked once, by `make test`. The
# real-deployment tests (marker `deployment`) run once too, on the newest Airflow: their three
# minutes would be spent twice, and Airflow 3.1's UI does not render the provider's form fields.
test-oldest:
	$(MAKE) pytest VENV=.venv-airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST) PYTEST_ARGS='-m "not deployment" $(PYTEST_ARGS)'

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) benchmarks/bench_pull.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-airflow-* .demo .pytest_cache
