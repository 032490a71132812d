"""A hand-written dagster 1.13 code location with every mistake the checker knows, one per
definition: the 12 of the original report (7 the checker caught, 5 it missed) and the ones found
since. Raw tag dicts on purpose: the dagster_platform helpers would refuse these at import.

Checked against a prod-like policy: caps 4096 CPU / 30720 MiB / 100 GiB, 5 run and 5 op retries,
priority -10..10, teams data-eng, ml, platform, alert_team required, pools limited to 5.
"""

import json

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
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
)
from dagster_aws.ecs import ecs_executor

daily = DailyPartitionsDefinition(start_date="2024-01-01")


# --- the 7 the checker caught ---------------------------------------------------------------------


@op
def step() -> None:
    return None


@job(tags={"ecs/cpu": "256", "ecs/memory": "4096", "alert_team": "data-eng"})
def mistake_01_fargate_pair() -> None:
    step()


@job(tags={"dagster/max_retries": "9", "alert_team": "data-eng"})
def mistake_02_run_retries() -> None:
    step()


@job(tags={"alert_team": "marketing"})
def mistake_03_unknown_team() -> None:
    step()


@job(tags={"dagster/priority": "3"})
def mistake_04_no_team() -> None:
    step()


@job(tags={"dagster/retry_strategy": "EVERYTHING", "alert_team": "data-eng"})
def mistake_05_strategy() -> None:
    step()


@job(tags={"dagster/priority": "50", "alert_team": "data-eng"})
def mistake_06_priority() -> None:
    step()


@op(retry_policy=RetryPolicy(max_retries=8))
def mistake_07_op_retry_policy() -> None:
    return None


# --- the 5 it missed ------------------------------------------------------------------------------


@job(
    tags={
        "alert_team": "ml",
        "ecs/task_overrides": json.dumps({"cpu": "16384", "memory": "122880"}),
    }
)
def mistake_08_task_overrides() -> None:
    mistake_07_op_retry_policy()


@asset(partitions_def=daily, tags={"alert_team": "data-eng"})
def events() -> None:
    return None


events_job = define_asset_job("events_job", selection=[events], tags={"alert_team": "data-eng"})

mistake_09_partitioned_schedule = build_schedule_from_partitioned_job(events_job, tags={"dagster/priority": "20"})


@asset(tags={"alert_team": "nobody"})
def mistake_10_asset_team() -> None:
    return None


@op
def mistake_11_retry_requested() -> None:
    raise RetryRequested(max_retries=10)


@job(
    tags={
        "alert_team": "ml",
        "dagster-k8s/config": json.dumps(
            {"container_config": {"resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "1", "memory": "4Gi"}}}}
        ),
    }
)
def mistake_12_k8s_requests_above_limits() -> None:
    mistake_11_retry_requested()


# --- found since ----------------------------------------------------------------------------------


@job(
    tags={
        "alert_team": "ml",
        "ecs/cpu": "1024",
        "ecs/memory": "2048",
        "ecs/container_overrides": json.dumps({"memory": 8192, "command": ["sh"]}),
    }
)
def mistake_13_container_overrides() -> None:
    step()


@job(
    tags={
        "alert_team": "ml",
        "ecs/run_task_kwargs": json.dumps(
            {
                "taskDefinition": "someone-elses-task:3",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"], "securityGroups": ["sg-0123456789abcdef0"]}},
            }
        ),
        "ecs/task_overrides": json.dumps({"taskRoleArn": "arn:aws:iam::123456789012:role/admin"}),
    }
)
def mistake_14_foreign_network_and_role() -> None:
    step()


@op(tags={"ecs/cpu": "8192", "ecs/memory": "16384"})
def mistake_15_big_step() -> None:
    return None


@job(tags={"alert_team": "ml"}, executor_def=ecs_executor)
def mistake_15_step_job() -> None:
    mistake_15_big_step()


@schedule(cron_schedule="0 3 * * *", job=mistake_01_fargate_pair)
def mistake_16_schedule_function(context):
    return RunRequest(tags={"dagster/max_retries": "7"})


@asset(automation_condition=AutomationCondition.eager())
def automated_table() -> None:
    return None


mistake_17_automation = AutomationConditionSensorDefinition(
    "mistake_17_automation", target=AssetSelection.assets(automated_table), run_tags={"dagster/priority": "99"}
)


@job(tags={"alert_team": "ml", "dagster-k8s/config": json.dumps({"container_config": {"resources": {"limits": {"memory": "4 gigs"}}}})})
def mistake_18_k8s_quantity() -> None:
    step()


defs = Definitions(
    assets=[events, mistake_10_asset_team, automated_table],
    jobs=[
        mistake_01_fargate_pair,
        mistake_02_run_retries,
        mistake_03_unknown_team,
        mistake_04_no_team,
        mistake_05_strategy,
        mistake_06_priority,
        mistake_08_task_overrides,
        events_job,
        mistake_12_k8s_requests_above_limits,
        mistake_13_container_overrides,
        mistake_14_foreign_network_and_role,
        mistake_15_step_job,
        mistake_18_k8s_quantity,
    ],
    schedules=[mistake_09_partitioned_schedule, mistake_16_schedule_function],
    sensors=[mistake_17_automation],
)
