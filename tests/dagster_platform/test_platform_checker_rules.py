"""check_repository in process, for the rules the sample locations do not cover."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    Definitions,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    asset,
    job,
    op,
    sensor,
)

from dagster_platform.checker import check_repository
from dagster_platform.policy import RunPolicy, load_policy


@pytest.fixture(scope="module")
def prod(policy_path: Path) -> RunPolicy:
    return load_policy(policy_path)


@asset
def clicks() -> None:
    return None


@op
def step() -> None:
    return None


@job(
    tags={"alert_team": "ml", "ecs/cpu": "1024", "ecs/memory": "2048"},
    op_retry_policy=RetryPolicy(max_retries=6),
)
def sized_job() -> None:
    step()


@sensor(job=sized_job, tags={"dagster/priority": "high"})
def annotated_sensor():
    yield RunRequest()


defs = Definitions(
    assets=[clicks],
    jobs=[sized_job],
    schedules=[
        # an asset-selection schedule runs an anonymous job: its own tags must carry the required ones
        ScheduleDefinition(
            name="clicks_hourly", target=AssetSelection.assets(clicks), cron_schedule="0 * * * *"
        ),
        # schedule tags overlay the job's: 1024 CPU with 9216 MiB is not a Fargate size
        ScheduleDefinition(
            name="sized_big", job=sized_job, cron_schedule="0 * * * *", tags={"ecs/memory": "9216"}
        ),
    ],
    sensors=[
        annotated_sensor,
        AutomationConditionSensorDefinition(
            "automation", target=AssetSelection.all(), run_tags={"dagster/retry_strategy": "NEVER"}
        ),
    ],
)


def test_schedules_sensors_and_job_retry_policies(prod: RunPolicy) -> None:
    result = check_repository(defs.get_repository_def(), prod)

    assert [(v.subject, v.message) for v in result.violations] == [
        ("schedule 'clicks_hourly'", "missing required tag alert_team (required_tags of the prod policy)"),
        (
            "schedule 'sized_big'",
            "tag ecs/memory='9216': not offered by Fargate with ecs/cpu=1024; "
            "allowed: 2048, 3072, 4096, 5120, 6144, 7168, 8192",
        ),
        ("sensor 'annotated_sensor'", "tag dagster/priority='high': not an integer; allowed: -10..10"),
        (
            "sensor 'automation'",
            "run_tags: tag dagster/retry_strategy='NEVER': not a retry strategy the prod policy allows; "
            "allowed: FROM_FAILURE, ALL_STEPS, FROM_ASSET_FAILURE",
        ),
        (
            "job 'sized_job'",
            "op_retry_policy RetryPolicy max_retries=6: above the prod policy cap retries.max_op_retries=5; "
            "allowed: 0..5",
        ),
    ]
    assert (result.jobs, result.schedules, result.sensors, result.nodes) == (1, 2, 2, 2)
    assert result.summary(prod) == "1 jobs, 2 schedules, 2 sensors, 2 assets/ops checked against prod policy"


def test_the_location_team_satisfies_required_alert_team_only(
    prod: RunPolicy, prod_policy_data: dict
) -> None:
    prod_policy_data["required_tags"] = ["alert_team", "cost_center"]
    policy = RunPolicy.from_dict(prod_policy_data, source="test")

    result = check_repository(defs.get_repository_def(), policy, policy.location("analytics"))

    schedule_messages = [v.message for v in result.violations if v.subject == "schedule 'clicks_hourly'"]
    assert schedule_messages == ["missing required tag cost_center (required_tags of the prod policy)"]
