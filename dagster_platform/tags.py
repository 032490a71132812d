"""Helpers that return validated run-tag dicts for jobs, schedules and asset jobs.

Call them at module level in a code location::

    daily_orders = define_asset_job(
        "daily_orders",
        selection="orders*",
        tags=run_tags(
            ecs_resources(cpu=1024, memory=4096),
            retries(3, strategy="FROM_FAILURE"),
            priority(5),
            alert_route("data-eng"),
        ),
    )

A value the active run policy (see :mod:`dagster_platform.policy`) does not allow raises
:class:`RunPolicyViolation` while the module is imported, so the code location fails to load with a
one-line message instead of launching runs that ECS or Dagster would reject later.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster_platform import limits, rules
from dagster_platform.policy import RunPolicy, active_policy


class RunPolicyViolation(ValueError):
    """A tag value the run policy does not allow; the message names helper, tag, value, allowed."""


def _policy(policy: RunPolicy | None) -> RunPolicy:
    return policy if policy is not None else active_policy()


def _as_int_text(value: object) -> str:
    """Tag values are strings: ints and integer strings become canonical integer text; anything
    else is passed on as text so the rules reject it with the allowed values."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        parsed = rules.parse_int(value)
        return value if parsed is None else str(parsed)
    return repr(value)


def _raise_first(helper: str, problems: list[rules.TagProblem]) -> None:
    if problems:
        raise RunPolicyViolation(problems[0].for_helper(helper))


def ecs_resources(
    *,
    cpu: int,
    memory: int,
    ephemeral_storage_gib: int | None = None,
    policy: RunPolicy | None = None,
) -> dict[str, str]:
    """``ecs/cpu`` and ``ecs/memory`` (a Fargate pair, in CPU units and MiB) and optionally
    ``ecs/ephemeral_storage`` (GiB, as the dagster-aws ECS run launcher reads it)."""
    helper = "ecs_resources"
    active = _policy(policy)
    tags = {
        limits.TAG_ECS_CPU: _as_int_text(cpu),
        limits.TAG_ECS_MEMORY: _as_int_text(memory),
    }
    if ephemeral_storage_gib is not None:
        tags[limits.TAG_ECS_EPHEMERAL_STORAGE] = _as_int_text(ephemeral_storage_gib)
    _raise_first(helper, rules.check_task_size_tags(tags, active))
    return tags


def retries(
    max_retries: int, strategy: str = "FROM_FAILURE", *, policy: RunPolicy | None = None
) -> dict[str, str]:
    """Run retries: ``dagster/max_retries`` and ``dagster/retry_strategy``."""
    helper = "retries"
    active = _policy(policy)
    count = _as_int_text(max_retries)
    _raise_first(helper, rules.check_max_retries(count, active))
    strategy_text = strategy if isinstance(strategy, str) else repr(strategy)
    _raise_first(helper, rules.check_retry_strategy(strategy_text, active))
    return {limits.TAG_MAX_RETRIES: count, limits.TAG_RETRY_STRATEGY: strategy_text}


def priority(value: int, *, policy: RunPolicy | None = None) -> dict[str, str]:
    """Run queue priority: ``dagster/priority`` (higher runs first)."""
    helper = "priority"
    text = _as_int_text(value)
    _raise_first(helper, rules.check_priority(text, _policy(policy)))
    return {limits.TAG_PRIORITY: text}


def alert_route(team: str, *, policy: RunPolicy | None = None) -> dict[str, str]:
    """``alert_team``: which team the platform's alerts for these runs go to."""
    helper = "alert_route"
    team_text = team if isinstance(team, str) else repr(team)
    _raise_first(helper, rules.check_alert_team(team_text, _policy(policy)))
    return {limits.TAG_ALERT_TEAM: team_text}


def run_tags(*tag_dicts: Mapping[str, str]) -> dict[str, str]:
    """Merge tag dicts; a key set to two different values is a mistake, not an override."""
    merged: dict[str, str] = {}
    for tags in tag_dicts:
        if not isinstance(tags, Mapping):
            raise RunPolicyViolation(f"run_tags: expected tag dicts, got {type(tags).__name__}")
        for key, value in tags.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise RunPolicyViolation(
                    f"run_tags: tag {key!r}={value!r} must be a string key and string value"
                )
            if key in merged and merged[key] != value:
                raise RunPolicyViolation(f"run_tags: {key} is set twice, to {merged[key]!r} and {value!r}")
            merged[key] = value
    return merged
