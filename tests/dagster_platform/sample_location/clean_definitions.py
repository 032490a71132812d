"""A code location that uses every way a run gets its resources, retries and team, all within the
prod-like policy: the checker must report nothing (no false positives)."""

import json

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    RetryPolicy,
    RetryRequested,
    RunRequest,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    job,
    op,
    schedule,
    sensor,
)
from dagster_aws.ecs import ecs_executor

from dagster_platform.run_guard import run_policy_guard_sensor
from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route, ecs_resources, priority, retries, run_tags

daily = DailyPartitionsDefinition(start_date="2024-01-01")


@asset(
    partitions_def=daily,
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=7),
    pool="warehouse",
    tags={"alert_team": "data-eng"},
    retry_policy=RetryPolicy(max_retries=3),
)
def events() -> None:
    return None


events_job = define_asset_job("events_job", selection=[events], tags=run_tags(alert_route("data-eng"), retries(2)))
events_schedule = build_schedule_from_partitioned_job(events_job, tags=priority(5))


@op(retry_policy=RetryPolicy(max_retries=2))
def load() -> None:
    return None


@op
def call_api() -> None:
    raise RetryRequested(max_retries=3)


@job(
    tags=run_tags(
        ecs_resources(cpu=2048, memory=8192),
        alert_route("ml"),
        {
            "ecs/task_overrides": json.dumps({"cpu": "4096", "memory": "16384"}),
            "ecs/container_overrides": json.dumps({"memory": 12288, "environment": [{"name": "MODE", "value": "full"}]}),
            "ecs/run_task_kwargs": json.dumps({"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}),
        },
    )
)
def train() -> None:
    load()
    call_api()


@op(tags={"ecs/cpu": "1024", "ecs/memory": "4096"}, pool="gpu-free")
def score() -> None:
    return None


@job(tags=alert_route("ml"), executor_def=ecs_executor)
def score_each_step() -> None:
    score()


@schedule(cron_schedule="0 4 * * *", job=train)
def nightly_train(context):
    return RunRequest(tags=retries(1))


@sensor(job=score_each_step, tags=alert_route("ml"))
def new_files():
    yield RunRequest()


@asset(automation_condition=AutomationCondition.eager(), tags={"alert_team": "ml"})
def features() -> None:
    return None


automation = AutomationConditionSensorDefinition(
    "automation", target=AssetSelection.assets(features), run_tags=run_tags(alert_route("ml"), priority(-1))
)

defs = Definitions(
    assets=[events, features],
    jobs=[events_job, train, score_each_step],
    schedules=[events_schedule, nightly_train],
    sensors=[new_files, automation, run_policy_guard_sensor(), *platform_alert_sensors()],
)
