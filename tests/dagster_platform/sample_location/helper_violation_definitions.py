"""Calls a tag helper with a value the policy refuses: importing this module must fail."""

from dagster import Definitions, job, op

from dagster_platform.tags import ecs_resources


@op
def noop() -> None:
    return None


@job(tags=ecs_resources(cpu=256, memory=4096))
def oversized() -> None:
    noop()


defs = Definitions(jobs=[oversized])
