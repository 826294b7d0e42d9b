# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine:
# they install what they need (nginx and openssl from Debian, a virtualenv with acmecf and its
# test extras). `make test` runs against Pebble b1e1ca4 or later: $ACMECF_PEBBLE, a current
# pebble on PATH, or one scripts/provide_pebble.py builds into the virtualenv (see README,
# "Development"). `make demo` takes any Pebble, Debian's package included.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# The path of a current Pebble, or a failure that says how to provide one.
PROVIDE_PEBBLE := $(BIN)/python scripts/provide_pebble.py

.PHONY: demo test test-container lint unit e2e pebble system-deps install clean

demo: system-deps install
	@scripts/install-system-deps --with-pebble
	$(BIN)/acmecf sandbox demo --workdir demo

test: system-deps install lint
	pebble="$$($(PROVIDE_PEBBLE))" && ACMECF_PEBBLE="$$pebble" $(BIN)/python -m pytest

# The Docker image end to end; needs a running docker or podman engine.
test-container: system-deps install
	pebble="$$($(PROVIDE_PEBBLE))" && ACMECF_PEBBLE="$$pebble" $(BIN)/python -m pytest -m container tests/e2e/test_container.py

lint: install
	$(BIN)/ruff check acmecf tests scripts
	$(BIN)/mypy
	$(BIN)/mypy scripts/provide_pebble.py

unit: install
	$(BIN)/python -m pytest tests/unit

e2e: system-deps install
	pebble="$$($(PROVIDE_PEBBLE))" && ACMECF_PEBBLE="$$pebble" $(BIN)/python -m pytest tests/e2e tests/testbed

# Prints the Pebble the tests use, building it into the virtualenv when there is none.
pebble: install
	@$(PROVIDE_PEBBLE)

# The benchmark of issue 4 (see README, "Benchmarks"): acmecf beside certbot and lego, about
# 10 minutes. The peers go into their own virtualenvs under bench/.venv-peers.
.PHONY: bench
bench: system-deps install
	@scripts/install-system-deps --with-pebble
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
