# The two commands of the README: `make demo` (the whole local stack, live sync visible) and `make test`
# (every test, on a stack of its own: <project>/.isthmus-test, ports 22xxx, so the demo never sees its data).
# Both set everything up first on a fresh machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-cluster lint unit down status bench chaos

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt stack/setup.sh
	bash stack/setup.sh
	touch $@

demo: setup
	$(BIN)/isthmus demo

# The integration tests mostly wait on the stack, so two more sessions run beside them: the unit tests (one
# core, no services), then the tests marked `beside` (a stack, cluster or installed wheel of their own: the
# secured cluster, the demo on a clean stack, up/status/down). The suite takes about as long as the main
# integration session. The side sessions' reports follow the main one's (also in test-artifacts/). Every
# integration test's time (setup, call and teardown together) is kept in test-artifacts/integration.xml (JUnit
# XML), so the next change to the suite's length can be measured per test instead of guessed.
test: setup lint
	@mkdir -p test-artifacts; \
	( $(BIN)/pytest -q -m unit -p no:cacheprovider --durations=10 > test-artifacts/unit.log 2>&1; \
	  echo $$? > test-artifacts/unit.rc; \
	  $(BIN)/pytest -q -m beside -p no:cacheprovider --durations=10 > test-artifacts/beside.log 2>&1; \
	  echo $$? > test-artifacts/beside.rc ) & side=$$!; \
	$(BIN)/pytest -q -m "not unit and not beside" --durations=25 --junitxml=test-artifacts/integration.xml; \
	integration=$$?; \
	wait $$side; \
	echo "== unit tests (run beside the integration tests; test-artifacts/unit.log) =="; \
	cat test-artifacts/unit.log; \
	echo "== integration tests with a stack of their own (run after the unit tests; test-artifacts/beside.log) =="; \
	cat test-artifacts/beside.log; \
	exit $$(( integration != 0 || $$(cat test-artifacts/unit.rc) != 0 || $$(cat test-artifacts/beside.rc) != 0 ))

lint: setup
	$(BIN)/ruff check streams reference tests examples bench chaos
	$(BIN)/mypy

# The secured 3-node cluster test (issue 16): its own cluster on ports 24xxx, started and stopped by the test.
# `make test` runs it too (it is under tests/); this target runs it alone.
test-cluster: setup
	$(BIN)/pytest -q tests/secured_cluster

unit: setup
	$(BIN)/pytest -q -m unit

down: setup
	$(BIN)/isthmus down

status: setup
	$(BIN)/isthmus status

# Benchmarks on the real stack (not part of `make test`): figures printed, JSON in bench/results/, rows in
# BENCHMARKS.md. BENCH_ARGS narrows it, e.g. `make bench BENCH_ARGS="throughput --records 50000"`.
bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# The chaos suite (not part of `make test`): faults injected again and again during a workload, then the
# invariants checked, on a stack of its own (/var/tmp/isthmus-chaos, ports 26xxx; stopped at the end).
# CHAOS_ARGS narrows it, e.g. `make chaos CHAOS_ARGS="--changes 5000"` for a quick run.
chaos: setup
	$(BIN)/python -m chaos $(CHAOS_ARGS)
