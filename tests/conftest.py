"""Shared fixtures: the example environments are synthesized once per test session."""

from __future__ import annotations

import pytest

from tests.support import CONFIG_DIR, Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    return synthesize(CONFIG_DIR, tmp_path_factory.mktemp("cdk.out"))
