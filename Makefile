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

# The suite in three pytest runs: the tests marked `many_processes` (the real deployments, one after
# another) beside everything else, then the tests marked `rate_timing` (several task processes on one
# rate budget, counting 429s) alone, as CPU-starved senders would cause 429s (tests/conftest.py marks
# them). PYTEST_MARKS narrows all three (a marker expression); PYTEST_ARGS goes to all three. Each
# lists its slowest tests; the deployments' output follows the rest's.
PYTEST_MARKS ?=
marks = $(if $(PYTEST_MARKS),($(PYTEST_MARKS)) and )
pytest: install
	@$(PY) -m pytest -q -p no:cacheprovider -m "$(marks)many_processes" --durations=8 $(PYTEST_ARGS) \
		> $(VENV)/pytest-many-processes.log 2>&1 & first=$$!; \
	$(PY) -m pytest -q -m "$(marks)not many_processes and not rate_timing" --durations=8 $(PYTEST_ARGS); rest=$$?; \
	wait $$first; many=$$?; \
	echo "--- pytest -m '$(marks)many_processes' (ran beside the above) ---"; cat $(VENV)/pytest-many-processes.log; \
	$(PY) -m pytest -q -p no:cacheprovider -m "$(marks)rate_timing" --durations=4 $(PYTEST_ARGS); timing=$$?; \
	for rc in $$rest $$many $$timing; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit 1; done  # 5: nothing selected

test: lint pytest

# Unit tests only (no server, no process, no database; marker `integration` marks the rest): seconds, not minutes.
test-unit: install
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

# On the oldest Airflow, the tests marked `airflow`: those that meet Airflow's own APIs (DAG parsing
# and a whole daily run, operators, hooks, connections, loads through common-sql, object storage,
# lineage, install metadata, the README's first DAG); tests/conftest.py marks them by folder or the
# module says so. The rest (sandbox, pure modules, fault storms, the real-deployment tests, and the
# rate budget's timing across task processes, marked rate_timing) does not
# depend on the Airflow release and runs once, in `make test`: running it twice would push .ci/run
# past its time budget. Lint and types run once too.
install-oldest:
	$(MAKE) install VENV=.venv-airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST)

test-oldest:
	$(MAKE) pytest VENV=.venv-airflow-$(AIRFLOW_OLDEST) AIRFLOW_VERSION=$(AIRFLOW_OLDEST) \
		PYTEST_MARKS='airflow and not deployment and not rate_timing'

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) benchmarks/bench_pull.py $(BENCH_ARGS)

# The documentation (mkdocs.yml, docs/) into site/; strict: a broken link, anchor, nav entry or include fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .venv-airflow-* .demo .pytest_cache site
