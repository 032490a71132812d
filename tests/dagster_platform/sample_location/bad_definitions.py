"""A code location that breaks the run policy in every way the checker knows.

Tags are raw dicts on purpose: the dagster_platform helpers would refuse these values at import.
"""

from dagster import Definitions, RetryPolicy, ScheduleDefinition, asset, define_asset_job, job, op


@op(retry_policy=RetryPolicy(max_retries=8))
def flaky_op() -> None:
    return None


@op
def plain_op() -> None:
    return None


@asset(retry_policy=RetryPolicy(max_retries=1, delay=-5))
def raw_events() -> None:
    return None


@job(tags={"ecs/cpu": "256", "ecs/memory": "4096", "alert_team": "data-eng"})
def bad_fargate_pair() -> None:
    plain_op()


@job(tags={"dagster/max_retries": "9", "alert_team": "data-eng"})
def too_many_retries() -> None:
    flaky_op()


@job(tags={"alert_team": "marketing"})
def unknown_team() -> None:
    plain_op()


@job(tags={"dagster/priority": "3"})
def no_team() -> None:
    plain_op()


@job(tags={"dagster/retry_strategy": "EVERYTHING", "alert_team": "data-eng"})
def bad_strategy() -> None:
    plain_op()


@job(tags={"dagster/priority": "50", "alert_team": "data-eng"})
def too_urgent() -> None:
    plain_op()


@job(tags={"ecs/cpu": "2048", "ecs/ephemeral_storage": "500", "alert_team": "data-eng"})
def lone_cpu() -> None:
    plain_op()


events_job = define_asset_job(
    "events_job", selection=[raw_events], tags={"ecs/cpu": "8192", "ecs/memory": "16384", "alert_team": "ml"}
)

good_job_bad_schedule = ScheduleDefinition(
    name="hourly_oversized",
    job=too_urgent,
    cron_schedule="0 * * * *",
    tags={"ecs/cpu": "256", "ecs/memory": "8192"},
)

defs = Definitions(
    assets=[raw_events],
    jobs=[
        bad_fargate_pair,
        too_many_retries,
        unknown_team,
        no_team,
        bad_strategy,
        too_urgent,
        lone_cpu,
        events_job,
    ],
    schedules=[good_job_bad_schedule],
)
