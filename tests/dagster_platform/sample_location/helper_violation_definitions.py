"""Calls tag helpers with values the policy refuses: importing this module must fail, naming the
job and every refused value of the statement (not only the first helper's)."""

from dagster import Definitions, job, op

from dagster_platform.tags import alert_route, ecs_resources, retries, run_tags


@op
def noop() -> None:
    return None


@job(tags=run_tags(ecs_resources(cpu=256, memory=4096), retries(9), alert_route("marketing")))
def oversized() -> None:
    noop()


defs = Definitions(jobs=[oversized])
