"""``python -m dagster_platform explain``: effective values and the layer each comes from."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE = Path("tests/dagster_platform/sample_location")
GOOD = str(SAMPLE / "good_definitions.py")
BAD = str(SAMPLE / "bad_definitions.py")


def settings_of(stdout: str) -> dict[str, tuple[str, str, str]]:
    explanation = json.loads(stdout)
    return {s["setting"]: (s["value"], s["layer"], s["source"]) for s in explanation["settings"]}


def test_job_tags_win_over_every_other_layer(platform_cli, policy_path: Path) -> None:
    completed = platform_cli(
        "explain", "--policy", str(policy_path), "--location", "analytics", "--json", GOOD, "daily_orders"
    )

    assert completed.returncode == 0, completed.stderr
    assert settings_of(completed.stdout) == {
        "max_retries": ("3", "job tag", "dagster/max_retries"),
        "retry_strategy": ("ALL_STEPS", "job tag", "dagster/retry_strategy"),
        "retry_on_asset_or_op_failure": (
            "true",
            "deployment setting",
            "deployment_settings.run_retries.retry_on_asset_or_op_failure",
        ),
        "cpu": ("1024", "job tag", "ecs/cpu"),
        "memory": ("4096", "job tag", "ecs/memory"),
        "ephemeral_storage_gib": ("50", "job tag", "ecs/ephemeral_storage"),
        "priority": ("-2", "job tag", "dagster/priority"),
        "alert_team": ("data-eng", "job tag", "alert_team"),
    }
    step_retries = json.loads(completed.stdout)["step_retries"]
    assert step_retries == [
        {
            "subject": "asset 'orders'",
            "max_retries": 2,
            "delay": 10,
            "backoff": "EXPONENTIAL",
            "jitter": None,
            "set_on": "the asset",
        }
    ]


def test_location_defaults_then_deployment_settings_then_platform_defaults(
    platform_cli, policy_path: Path
) -> None:
    completed = platform_cli(
        "explain", "--policy", str(policy_path), "--location", "analytics", GOOD, "nightly_report"
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "job 'nightly_report' (prod policy, location 'analytics')"
    assert lines[1].startswith("launched directly (UI, API, backfill")
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines[3:11]}
    assert rows == {
        "max_retries": "1             job tag             dagster/max_retries",
        "retry_strategy": "FROM_FAILURE  job tag             dagster/retry_strategy",
        "retry_on_asset_or_op_failure": "true          deployment setting  deployment_settings.run_retries.retry_on_asset_or_op_failure",
        "cpu": "512           location default    locations.analytics.run.cpu",
        "memory": "2048          location default    locations.analytics.run.memory",
        "ephemeral_storage_gib": "21            location default    locations.analytics.run.ephemeral_storage_gib",
        "priority": "0             platform default    Dagster default",
        "alert_team": "data-eng      location default    locations.analytics.alert_team",
    }
    assert lines[11:] == ["executor: multi_or_in_process_executor (steps run inside the run's task)", "op/asset retry policies: none"]


def test_without_location_the_deployment_setting_and_platform_defaults_apply(
    platform_cli, policy_path: Path
) -> None:
    completed = platform_cli("explain", "--policy", str(policy_path), "--json", BAD, "too_urgent")

    assert completed.returncode == 0, completed.stderr
    settings = settings_of(completed.stdout)
    assert settings["max_retries"] == (
        "2",
        "deployment setting",
        "deployment_settings.run_retries.max_retries",
    )
    assert settings["retry_strategy"] == ("FROM_FAILURE", "platform default", "Dagster default")
    assert settings["cpu"] == ("256", "platform default", "dagster-aws ECS run launcher default")
    assert settings["memory"] == ("512", "platform default", "dagster-aws ECS run launcher default")
    assert settings["ephemeral_storage_gib"] == ("20", "platform default", "Fargate default")
    assert settings["priority"] == ("50", "job tag", "dagster/priority")
    problems = {s["setting"]: s["problem"] for s in json.loads(completed.stdout)["settings"]}
    assert problems["priority"] == "outside the prod policy range; allowed: -10..10"


def test_op_retry_policies_are_listed_with_their_worst_case(platform_cli, policy_path: Path) -> None:
    completed = platform_cli("explain", "--policy", str(policy_path), BAD, "too_many_retries")

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "max_retries                   9" in lines[3]
    assert lines[3].endswith("! above the prod policy cap retries.max_run_retries=5; allowed: 0..5")
    assert (
        lines[-1]
        == "  op 'flaky_op': max_retries=8 (set on the op); up to 9 attempts per run, 90 over 10 run attempts"
    )


def test_unknown_job_lists_the_known_ones(platform_cli, policy_path: Path) -> None:
    completed = platform_cli("explain", "--policy", str(policy_path), GOOD, "hourly_orders")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.strip() == (
        f"error: {GOOD}: unknown job 'hourly_orders'; jobs in this location: daily_orders, nightly_report, refresh_dimensions_job"
    )
