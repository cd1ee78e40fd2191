# The two commands of the README: `make demo` and `make test`. Both set themselves up from nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8080

.PHONY: demo test lint bench chaos clean

# The example plugin (docs/writing-plugins.md) is installed as a third party's package would be.
$(STAMP): pyproject.toml tests/plugin_example/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres]'
	$(PY) -m pip install --quiet --no-deps -e tests/plugin_example
	touch $(STAMP)

# make demo PORT=9090 for another wallboard port. Each run starts from a fresh store in demo-data/.
demo: $(STAMP)
	$(VENV)/bin/backlog-watch demo --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest -q

# What CI checks before the tests: lint, format, strict types, and the layers of the architecture.
lint: $(STAMP)
	$(VENV)/bin/ruff check backlog_watch connectors tests bench
	$(VENV)/bin/ruff format --check backlog_watch connectors tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Every bench (bench/run.py), then one table of issue 12's figures; under 15 minutes on a loaded 2-core
# machine. `make bench BENCH_FLAGS=--quick` is a smoke run; BENCH_FLAGS="--only idle,storm" picks benches.
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_FLAGS)

# Issue 13's chaos test at length: three replicas on one PostgreSQL store, CHAOS_CYCLES random kills and
# pauses (`make test` runs 10). Prints its figures: cycles, takeovers, lost, duplicates, poll gaps.
CHAOS_CYCLES ?= 50
chaos: $(STAMP)
	BACKLOG_WATCH_CHAOS_CYCLES=$(CHAOS_CYCLES) $(PY) -m pytest -q -s -p no:randomly -m chaos tests/test_chaos.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache demo-data
