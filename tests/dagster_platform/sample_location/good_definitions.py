"""A code location that follows the run policy: every tag comes from the dagster_platform helpers."""

from datetime import timedelta

from dagster import (
    AssetCheckResult,
    AssetSelection,
    Backoff,
    Definitions,
    FreshnessPolicy,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    asset,
    asset_check,
    build_last_update_freshness_checks,
    define_asset_job,
    job,
    op,
    sensor,
)

from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route, ecs_resources, priority, retries, run_tags


@asset(
    retry_policy=RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL),
    tags={"alert_team": "data-eng"},
)
def orders() -> int:
    return 42


@asset(deps=[orders], freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(hours=1)))
def daily_report() -> None:
    return None


@asset_check(asset=orders)
def orders_not_empty() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


orders_freshness_checks = build_last_update_freshness_checks(
    assets=[orders], lower_bound_delta=timedelta(hours=2)
)


@op(retry_policy=RetryPolicy(max_retries=3))
def refresh_dimensions() -> None:
    return None


@job(
    tags=run_tags(
        ecs_resources(cpu=512, memory=2048),
        retries(2),
        priority(5),
        alert_route("data-eng"),
    )
)
def refresh_dimensions_job() -> None:
    refresh_dimensions()


daily_orders = define_asset_job(
    "daily_orders",
    selection=AssetSelection.assets(orders, daily_report),
    tags=run_tags(
        ecs_resources(cpu=1024, memory=4096, ephemeral_storage_gib=50),
        retries(3, strategy="ALL_STEPS"),
        priority(-2),
        alert_route("data-eng"),
    ),
)

# No resource or team tags: takes the location's run size and alert_team from the policy.
nightly_report = define_asset_job(
    "nightly_report", selection=AssetSelection.assets(daily_report), tags=run_tags(retries(1))
)

daily_orders_schedule = ScheduleDefinition(
    name="daily_orders_schedule", job=daily_orders, cron_schedule="0 6 * * *", tags=priority(8)
)


@sensor(job=refresh_dimensions_job, tags=alert_route("data-eng"))
def dimensions_changed():
    yield RunRequest(run_key=None)


defs = Definitions(
    assets=[orders, daily_report],
    asset_checks=[orders_not_empty, *orders_freshness_checks],
    jobs=[refresh_dimensions_job, daily_orders, nightly_report],
    schedules=[daily_orders_schedule],
    sensors=[dimensions_changed, *platform_alert_sensors()],
)
