# dealstream — `make help` lists the targets.
SHELL := /bin/bash
# Debian's python3.11 where there is one: built with PGO and LTO, as the Docker image's
# python:3.11 is. On a build without them (pyenv's default) a backtest's replay took 5-14%
# longer, side by side (docs/design.md, "Objects not made, and the interpreter").
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE := workers/native
NATIVE_STAMP := $(VENV)/.native-installed
# rustup's cargo, where a login shell would find it
export PATH := $(PATH):$(HOME)/.cargo/bin

.DEFAULT_GOAL := help
.PHONY: help install system-deps lock demo test test-unit test-integration lint fmt typecheck \
        check up down worker bench contract clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

system-deps: ## install the JDK, Maven, redis-server, openssl, setpriv, jemalloc, python3-venv and promtool from Debian when missing
	@command -v java >/dev/null && command -v mvn >/dev/null && command -v redis-server >/dev/null \
	  && command -v openssl >/dev/null && command -v setpriv >/dev/null \
	  && /sbin/ldconfig -p | grep -q libjemalloc.so.2 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      default-jdk-headless maven redis-server openssl util-linux libjemalloc2 \
	      $(if $(filter /usr/bin/%,$(PYTHON)),python3-venv) >/dev/null; }
	@# promtool only (the prometheus package's binary, unpacked; no server is installed or run)
	@command -v promtool >/dev/null || test -x .cache/promtool/usr/bin/promtool || \
	  { mkdir -p .cache/promtool && cd .cache/promtool && \
	    { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; } && \
	    dpkg -x prometheus_*.deb . && rm -f prometheus_*.deb; }

CARGO_CHECK := command -v cargo >/dev/null || { echo "cargo not found: the native core ($(NATIVE)) needs Rust 1.77 or newer (rustup)" >&2; exit 1; }

# The workers and, as their dependency, the native core (Rust, PyO3), which pip builds with
# maturin from the crates Cargo.lock pins.
$(STAMP): pyproject.toml constraints.txt
	@$(CARGO_CHECK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3
	$(BIN)/pip install -q -c constraints.txt ./$(NATIVE) -e ".[dev]"
	@touch $(STAMP) $(NATIVE_STAMP)

# The native core again when its sources change.
$(NATIVE_STAMP): $(STAMP) $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/pyproject.toml \
                 $(NATIVE)/dealstream_core.pyi $(wildcard $(NATIVE)/src/*.rs)
	@$(CARGO_CHECK)
	$(BIN)/pip install -q --force-reinstall --no-deps ./$(NATIVE)
	@touch $(NATIVE_STAMP)

install: system-deps $(STAMP) $(NATIVE_STAMP) ## create .venv with the locked dependency set and the native core

lock: ## re-resolve constraints.txt from pyproject.toml (fresh venv)
	rm -rf /tmp/dealstream-lock && $(PYTHON) -m venv /tmp/dealstream-lock
	/tmp/dealstream-lock/bin/pip install -q ./$(NATIVE) -e ".[dev]"
	{ echo "# Exact dependency set for CI, the Dockerfile and \`make install\` (regenerate: make lock)."; \
	  /tmp/dealstream-lock/bin/pip freeze --exclude-editable | grep -v dealstream; } > constraints.txt

demo: install ## THE MAIN JOB: local Kafka + Redis, the workers, demo traffic, a live view
	$(BIN)/dealstream demo

test: install ## all tests: unit, property and integration (real local Kafka + Redis)
	$(BIN)/pytest

test-unit: install ## unit and property tests only (no servers)
	$(BIN)/pytest -m "not integration"

test-integration: install ## integration tests only
	$(BIN)/pytest -m integration

lint: install ## ruff lint and format check; rustfmt and clippy on the native core
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# the native core: rustfmt and clippy (rustup's default components), warnings as errors
	@if cargo clippy --version >/dev/null 2>&1 && cargo fmt --version >/dev/null 2>&1; then \
	  cd $(NATIVE) && cargo fmt --check && \
	  PYO3_PYTHON=$(abspath $(BIN)/python) cargo clippy -q --release --locked -- -D warnings; \
	else echo "cargo clippy or cargo fmt not installed: the native core's lint is skipped" >&2; fi

fmt: install ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install ## mypy strict on workers/ and schemas/
	$(BIN)/mypy

check: lint typecheck test ## everything CI checks

up: install ## start the local stack (Kafka + Redis) in the background
	$(BIN)/dealstream dev up

down: install ## stop the local stack
	$(BIN)/dealstream dev down

worker: install ## run one worker against the local stack (after `make up`)
	set -a && . var/devstack/env && set +a && $(BIN)/dealstream worker

bench: install ## run the benchmarks; results go to benchmarks/RESULTS.md
	$(BIN)/python -m benchmarks.run_all

contract: install ## rewrite docs/contract.md from schemas/*.json (a test checks they agree)
	$(BIN)/python -m schemas.contract_doc

clean: ## remove the venv, caches and local state (keeps the Kafka jar cache)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis $(NATIVE)/target
