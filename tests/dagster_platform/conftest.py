"""Shared fixtures: the repository on sys.path, a prod run policy file, and the CLI as a subprocess."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOCATION = Path(__file__).resolve().parent / "sample_location"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: The environment variables the platform sets; tests start from none of them.
PLATFORM_ENV_VARS = (
    "DAGSTER_PLATFORM_RUN_POLICY",
    "DAGSTER_PLATFORM_RUN_POLICY_JSON",
    "DAGSTER_PLATFORM_ALERT_QUEUE_URL",
    "DAGSTER_PLATFORM_ALERT_TOPIC_ARN",
    "DAGSTER_PLATFORM_UI_URL",
    "DAGSTER_CLOUD_URL",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_LOCATION_NAME",
    "DAGSTER_PLATFORM_LOCATION",
    "DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM",
)

PROD_POLICY: dict[str, Any] = {
    "schema_version": 1,
    "environment": "prod",
    "limits": {"max_cpu": 4096, "max_memory_mib": 16384, "max_ephemeral_storage_gib": 100},
    "retries": {
        "max_run_retries": 5,
        "max_op_retries": 5,
        "strategies": ["FROM_FAILURE", "ALL_STEPS", "FROM_ASSET_FAILURE"],
    },
    "priority": {"min": -10, "max": 10},
    "alert_teams": ["data-eng", "ml", "platform"],
    "default_alert_team": "platform",
    "required_tags": ["alert_team"],
    "deployment_settings": {"run_retries": {"max_retries": 2, "retry_on_asset_or_op_failure": True}},
    "locations": {
        "analytics": {
            "server": {"cpu": 256, "memory": 1024},
            "run": {"cpu": 512, "memory": 2048, "ephemeral_storage_gib": 21},
            "alert_team": "data-eng",
        },
        "ml": {
            "server": {"cpu": 512, "memory": 2048},
            "run": {"cpu": 2048, "memory": 8192},
            "alert_team": "ml",
        },
    },
    "alerting": {"job_failure_alerts": "relay"},
    "ecs_overrides": {"role_arns": [], "subnets": [], "security_groups": []},
}


@pytest.fixture(autouse=True)
def _no_platform_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLATFORM_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prod_policy_data() -> dict[str, Any]:
    return copy.deepcopy(PROD_POLICY)


@pytest.fixture(scope="session")
def policy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cdk.out") / "run_policy.json"
    path.write_text(json.dumps(PROD_POLICY, indent=2), encoding="utf-8")
    return path


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_ENV_VARS}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def subprocess_env() -> Callable[..., dict[str, str]]:
    """The environment for a child Python: this repository importable, no platform variables."""
    return _subprocess_env


@pytest.fixture(scope="session")
def platform_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m dagster_platform ...`` from the repository root, as CI would."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dagster_platform", *args],
            cwd=REPO_ROOT,
            env=_subprocess_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield
