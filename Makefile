# flashcrash: `make demo` and `make test` work on a fresh clone (they install what they need).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CARGO := cargo
RUST := rust-engine
STAMP := $(VENV)/.installed
# The compiled event detector, synthetic book, order rules and paper executor (`flashcrash_native`: crates detector,
# synthetic-book, order-rules, paper-executor, common, py-detector), built into the venv.
NATIVE := $(VENV)/.native
NATIVE_SRC := $(shell find $(RUST)/crates/detector $(RUST)/crates/synthetic-book $(RUST)/crates/order-rules $(RUST)/crates/paper-executor $(RUST)/crates/common $(RUST)/crates/py-detector -name '*.rs' -o -name '*.toml') $(RUST)/Cargo.lock

.PHONY: help install build build-release test test-rust test-python demo bench lint fmt check golden book-cases clean

help:
	@echo "make demo    install, then paper-trade the bundled 10 Oct 2025 POLUSDT crash through exchange-sim"
	@echo "make test    install, then run every Rust and Python test"
	@echo "make bench   run the benchmarks and write bench/results/"
	@echo "make lint    cargo fmt --check, clippy -D warnings, cargo doc -D warnings, ruff"

# Python venv with the strategy package and its dev extras (pinned in python-strategy/pyproject.toml).
$(STAMP): python-strategy/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e 'python-strategy[dev]'
	touch $(STAMP)

# Profile `native` (release, but a panic raises in Python instead of aborting the process).
$(NATIVE): $(STAMP) $(NATIVE_SRC)
	cd $(RUST)/crates/py-detector && VIRTUAL_ENV=$(CURDIR)/$(VENV) $(CURDIR)/$(VENV)/bin/maturin develop \
		--locked --profile native --quiet
	touch $@

install: $(STAMP) $(NATIVE) build

build:
	cd $(RUST) && $(CARGO) build --locked --bins

build-release:
	cd $(RUST) && $(CARGO) build --locked --release --bins

test: $(STAMP) $(NATIVE) build test-rust test-python

test-rust:
	cd $(RUST) && $(CARGO) test --locked --all

# The integration tests start the debug binaries built by `make build`.
test-python: $(STAMP) $(NATIVE)
	FLASHCRASH_BIN_DIR=$(CURDIR)/$(RUST)/target/debug $(PY) -m pytest python-strategy/tests -q

demo: $(STAMP) $(NATIVE) build-release
	$(PY) -m flashcrash demo --config config/config.toml --bin-dir $(RUST)/target/release

bench: $(STAMP) $(NATIVE) build-release
	test -x $(VENV)/hbt/bin/python || ($(PYTHON) -m venv $(VENV)/hbt && \
		$(VENV)/hbt/bin/pip install --quiet -r bench/requirements-hbt.txt)
	bash scripts/bench.sh

lint: $(STAMP)
	cd $(RUST) && $(CARGO) fmt --all -- --check && $(CARGO) clippy --locked --all-targets -- -D warnings
	cd $(RUST) && RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --workspace --quiet
	$(VENV)/bin/ruff check python-strategy tests/golden tests/book_cases bench $(RUST)/crates/detector/tests
	$(VENV)/bin/ruff format --check python-strategy tests/golden tests/book_cases bench $(RUST)/crates/detector/tests

fmt: $(STAMP)
	cd $(RUST) && $(CARGO) fmt --all
	$(VENV)/bin/ruff format python-strategy tests/golden tests/book_cases bench $(RUST)/crates/detector/tests

# Regenerates tests/golden/*.msgpack from the JSON files (review the diff: the wire format changed).
golden: $(STAMP)
	$(PY) tests/golden/generate.py

# Rewrites tests/book_cases/cases.json from the backtest's synthetic book (review the diff: the model
# changed; exchange-sim's model must follow: cargo test -p exchange-sim --test book_cases).
book-cases: $(STAMP)
	$(PY) tests/book_cases/generate.py

check: lint test

clean:
	rm -rf $(VENV) $(RUST)/target reports
