# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine:
# they install what they need (Debian's pebble, a virtualenv with acmecf and its test extras).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint unit e2e system-deps install clean

demo: system-deps install
	$(BIN)/acmecf sandbox demo --workdir demo

test: system-deps install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check acmecf tests
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest tests/unit

e2e: system-deps install
	$(BIN)/python -m pytest tests/e2e tests/testbed

# The benchmark of issue 4 (see README, "Benchmarks"): acmecf beside certbot and lego, about
# 10 minutes. The peers go into their own virtualenvs under bench/.venv-peers.
.PHONY: bench
bench: system-deps install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Issue 14: 1,000 certificates in one renew, batching on and off (about 30 minutes; see the
# README, "Thousands of certificates").
.PHONY: bench-thousands
bench-thousands: system-deps install
	$(BIN)/python bench/thousands.py $(BENCH_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@scripts/install-system-deps

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
