"""``python -m dagster_platform check``: real Dagster definitions, real exit codes, exact lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SAMPLE = Path("tests/dagster_platform/sample_location")  # relative to the repository root (the CLI's cwd)
GOOD = str(SAMPLE / "good_definitions.py")
BAD = str(SAMPLE / "bad_definitions.py")
HELPER_VIOLATION = str(SAMPLE / "helper_violation_definitions.py")

BAD_LINES_WITHOUT_LOCATION = [
    f"{BAD}:24: job 'bad_fargate_pair': tag ecs/memory='4096': not offered by Fargate with ecs/cpu=256; allowed: 512, 1024, 2048",
    f"{BAD}:44: job 'bad_strategy': tag dagster/retry_strategy='EVERYTHING': not a retry strategy the prod policy allows; "
    "allowed: FROM_FAILURE, ALL_STEPS, FROM_ASSET_FAILURE",
    f"{BAD}:59: job 'events_job': tag ecs/cpu='8192': above the prod policy cap limits.max_cpu=4096; allowed: 256, 512, 1024, 2048, 4096",
    f"{BAD}:54: job 'lone_cpu': tag ecs/ephemeral_storage='500': above the prod policy cap limits.max_ephemeral_storage_gib=100; "
    "allowed: 21..100",
    f"{BAD}:54: job 'lone_cpu': tag ecs/cpu='2048': set without ecs/memory; set both, or check with --location to combine it "
    "with the location's run default",
    f"{BAD}:39: job 'no_team': missing required tag alert_team (required_tags of the prod policy)",
    f"{BAD}:29: job 'too_many_retries': tag dagster/max_retries='9': above the prod policy cap retries.max_run_retries=5; allowed: 0..5",
    f"{BAD}:49: job 'too_urgent': tag dagster/priority='50': outside the prod policy range; allowed: -10..10",
    f"{BAD}:34: job 'unknown_team': tag alert_team='marketing': not a team in the prod policy; allowed: data-eng, ml, platform",
    f"{BAD}:63: schedule 'hourly_oversized': tag ecs/memory='8192': not offered by Fargate with ecs/cpu=256; allowed: 512, 1024, 2048",
    f"{BAD}:19: asset 'raw_events': RetryPolicy delay=-5: negative; allowed: 0 seconds or more",
    f"{BAD}:9: op 'flaky_op': RetryPolicy max_retries=8: above the prod policy cap retries.max_op_retries=5; allowed: 0..5",
]


def test_bad_location_reports_every_violation(platform_cli, policy_path: Path) -> None:
    completed = platform_cli("check", "--policy", str(policy_path), BAD)

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.splitlines() == BAD_LINES_WITHOUT_LOCATION


def test_location_defaults_complete_lone_sizes_and_provide_the_team(platform_cli, policy_path: Path) -> None:
    completed = platform_cli("check", "--policy", str(policy_path), "--location", "analytics", BAD)

    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert (
        f"{BAD}:54: job 'lone_cpu': tag ecs/cpu='2048': not offered by Fargate with ecs/memory=2048 "
        "(location 'analytics' run default); allowed: 256, 512, 1024"
    ) in lines
    assert not any("'no_team'" in line for line in lines)  # alert_team comes from the location
    assert len(lines) == len(BAD_LINES_WITHOUT_LOCATION) - 1


def test_good_location_passes_with_its_location(platform_cli, policy_path: Path) -> None:
    completed = platform_cli("check", "--policy", str(policy_path), "--location", "analytics", GOOD)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines() == [
        "ok: 3 jobs, 1 schedules, 5 sensors, 5 assets/ops checked against prod policy"
    ]


def test_without_location_a_job_relying_on_the_location_team_is_reported(
    platform_cli, policy_path: Path
) -> None:
    completed = platform_cli("check", "--policy", str(policy_path), GOOD)

    assert completed.returncode == 1
    assert completed.stdout.splitlines() == [
        f"{GOOD}:79: job 'nightly_report': missing required tag alert_team (required_tags of the prod policy)"
    ]


def test_values_a_helper_would_refuse_at_import_are_all_reported_on_their_job(
    platform_cli, policy_path: Path
) -> None:
    completed = platform_cli("check", "--policy", str(policy_path), HELPER_VIOLATION)

    assert completed.returncode == 1
    assert completed.stdout.splitlines() == [
        f"{HELPER_VIOLATION}:14: job 'oversized': tag ecs/memory='4096': not offered by Fargate with ecs/cpu=256; "
        "allowed: 512, 1024, 2048",
        f"{HELPER_VIOLATION}:14: job 'oversized': tag dagster/max_retries='9': above the prod policy cap "
        "retries.max_run_retries=5; allowed: 0..5",
        f"{HELPER_VIOLATION}:14: job 'oversized': tag alert_team='marketing': not a team in the prod policy; "
        "allowed: data-eng, ml, platform",
    ]


def test_the_default_policy_applies_without_policy(platform_cli) -> None:
    completed = platform_cli("check", GOOD)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (
        completed.stdout.strip()
        == "ok: 3 jobs, 1 schedules, 5 sensors, 5 assets/ops checked against default policy"
    )


def test_usage_errors_exit_2(platform_cli, policy_path: Path, tmp_path: Path) -> None:
    unknown_location = platform_cli("check", "--policy", str(policy_path), "--location", "billing", GOOD)
    assert unknown_location.returncode == 2
    assert (
        unknown_location.stderr.strip()
        == f"error: {policy_path}: unknown location 'billing'; the prod policy defines: analytics, ml"
    )

    missing = platform_cli("check", "--policy", str(policy_path), "nowhere/definitions.py")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: nowhere/definitions.py: no such file"

    bad_policy = tmp_path / "run_policy.json"
    bad_policy.write_text(json.dumps({"schema_version": 1}), encoding="utf-8")
    invalid = platform_cli("check", "--policy", str(bad_policy), GOOD)
    assert invalid.returncode == 2
    assert invalid.stderr.strip() == f"error: {bad_policy}: field 'environment' is required"

    no_command = platform_cli()
    assert no_command.returncode == 2
    assert "usage: python -m dagster_platform" in no_command.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import not_a_module_anywhere\n", "ModuleNotFoundError: No module named 'not_a_module_anywhere' ("),
        (
            "x = 1\n",
            "DagsterInvariantViolationError: No Definitions, RepositoryDefinition, Job, Pipeline, Graph",
        ),
        ("raise RuntimeError('config missing')\n", "RuntimeError: config missing ("),
    ],
)
def test_unloadable_definitions_exit_2(platform_cli, tmp_path: Path, source: str, expected: str) -> None:
    path = tmp_path / "definitions.py"
    path.write_text(source, encoding="utf-8")

    completed = platform_cli("check", str(path))

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith(f"error: {path}: cannot load definitions: ")
    assert expected in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
