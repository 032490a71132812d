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
one-line message instead of launching runs that ECS or Dagster would reject later. The message
names the file and line, the definition the tags are for, and every refused value of the
statement (the other helper calls with literal arguments are evaluated from the source)::

    defs.py:14: job 'oversized': ecs_resources: ecs/memory=4096 is ...; retries: dagster/max_retries=9 is ...

Under the checker (:func:`checking_definitions`) the helpers return their tags instead, and the
checker reports each refused value on the job, schedule or sensor that carries it.
Standard library only.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator, Mapping

from dagster_platform import limits, rules, source_index
from dagster_platform.policy import RunPolicy, active_policy


class RunPolicyViolation(ValueError):
    """A tag value the run policy does not allow; the message names the file and line, the
    definition the tags were meant for, and every refused value of the statement."""


#: True while the checker imports a location: helpers return their tags without raising, and the
#: checker reports every problem on the job, schedule or sensor that carries the tags.
_checking = contextvars.ContextVar("dagster_platform_checking_definitions", default=False)


@contextlib.contextmanager
def checking_definitions() -> Iterator[None]:
    token = _checking.set(True)
    try:
        yield
    finally:
        _checking.reset(token)


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


def _ecs_resources(
    cpu: object, memory: object, ephemeral_storage_gib: object, policy: RunPolicy
) -> tuple[dict[str, str], list[str]]:
    tags = {limits.TAG_ECS_CPU: _as_int_text(cpu), limits.TAG_ECS_MEMORY: _as_int_text(memory)}
    if ephemeral_storage_gib is not None:
        tags[limits.TAG_ECS_EPHEMERAL_STORAGE] = _as_int_text(ephemeral_storage_gib)
    problems = rules.check_task_size_tags(tags, policy)
    return tags, [p.for_helper("ecs_resources") for p in problems if p.is_error]


def _retries(max_retries: object, strategy: object, policy: RunPolicy) -> tuple[dict[str, str], list[str]]:
    count = _as_int_text(max_retries)
    strategy_text = strategy if isinstance(strategy, str) else repr(strategy)
    problems = rules.check_max_retries(count, policy) + rules.check_retry_strategy(strategy_text, policy)
    return (
        {limits.TAG_MAX_RETRIES: count, limits.TAG_RETRY_STRATEGY: strategy_text},
        [p.for_helper("retries") for p in problems],
    )


def _priority(value: object, policy: RunPolicy) -> tuple[dict[str, str], list[str]]:
    text = _as_int_text(value)
    return {limits.TAG_PRIORITY: text}, [p.for_helper("priority") for p in rules.check_priority(text, policy)]


def _alert_route(team: object, policy: RunPolicy) -> tuple[dict[str, str], list[str]]:
    team_text = team if isinstance(team, str) else repr(team)
    problems = rules.check_alert_team(team_text, policy)
    return {limits.TAG_ALERT_TEAM: team_text}, [p.for_helper("alert_route") for p in problems]


_HELPERS = {
    "ecs_resources": lambda policy, cpu, memory, ephemeral_storage_gib=None: _ecs_resources(
        cpu, memory, ephemeral_storage_gib, policy
    ),
    "retries": lambda policy, max_retries, strategy="FROM_FAILURE": _retries(max_retries, strategy, policy),
    "priority": lambda policy, value: _priority(value, policy),
    "alert_route": lambda policy, team: _alert_route(team, policy),
}


def _finish(tags: dict[str, str], problems: list[str], policy: RunPolicy) -> dict[str, str]:
    if problems and not _checking.get():
        raise RunPolicyViolation(_statement_message(problems, policy))
    return tags


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller() -> tuple[str, int] | None:
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno


def _statement_message(problems: list[str], policy: RunPolicy | None) -> str:
    """``file:line: job 'name': <every problem of the statement's helper calls>``.

    The helper that raises is the first one Python evaluates; the others in the same statement
    (``run_tags(ecs_resources(...), retries(...), ...)``) are evaluated here from their literal
    arguments, so one import error lists every value to fix."""
    site = _caller()
    if site is None:
        return "; ".join(problems)
    path, line = site
    enclosing = source_index.enclosing_definition(path, line)
    prefix = f"{path}:{line}: "
    if enclosing is None:
        return prefix + "; ".join(problems)
    prefix += f"{enclosing.kind} '{enclosing.name}': "
    everything: list[str] = []
    calls = [] if policy is None else source_index.helper_calls(enclosing.statement, _HELPERS)
    for call in calls:
        try:
            args = [ast.literal_eval(arg) for arg in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg not in (None, "policy")}
            _tags, found = _HELPERS[call.func.id if isinstance(call.func, ast.Name) else call.func.attr](  # type: ignore[attr-defined]
                policy, *args, **kwargs
            )
        except (ValueError, TypeError, SyntaxError):
            continue  # computed arguments: only the raising helper's own problems are known
        everything.extend(p for p in found if p not in everything)
    for problem in problems:
        if problem not in everything:
            everything.append(problem)
    return prefix + "; ".join(everything)


def ecs_resources(
    *,
    cpu: int,
    memory: int,
    ephemeral_storage_gib: int | None = None,
    policy: RunPolicy | None = None,
) -> dict[str, str]:
    """``ecs/cpu`` and ``ecs/memory`` (a Fargate pair, in CPU units and MiB) and optionally
    ``ecs/ephemeral_storage`` (GiB, as the dagster-aws ECS run launcher reads it)."""
    active = _policy(policy)
    return _finish(*_ecs_resources(cpu, memory, ephemeral_storage_gib, active), active)


def retries(
    max_retries: int, strategy: str = "FROM_FAILURE", *, policy: RunPolicy | None = None
) -> dict[str, str]:
    """Run retries: ``dagster/max_retries`` and ``dagster/retry_strategy``."""
    active = _policy(policy)
    return _finish(*_retries(max_retries, strategy, active), active)


def priority(value: int, *, policy: RunPolicy | None = None) -> dict[str, str]:
    """Run queue priority: ``dagster/priority`` (higher runs first)."""
    active = _policy(policy)
    return _finish(*_priority(value, active), active)


def alert_route(team: str, *, policy: RunPolicy | None = None) -> dict[str, str]:
    """``alert_team``: which team the platform's alerts for these runs go to."""
    active = _policy(policy)
    return _finish(*_alert_route(team, active), active)


def run_tags(*tag_dicts: Mapping[str, str]) -> dict[str, str]:
    """Merge tag dicts; a key set to two different values is a mistake, not an override."""
    merged: dict[str, str] = {}
    for tags in tag_dicts:
        if not isinstance(tags, Mapping):
            raise RunPolicyViolation(
                _statement_message([f"run_tags: expected tag dicts, got {type(tags).__name__}"], None)
            )
        for key, value in tags.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise RunPolicyViolation(
                    _statement_message([f"run_tags: tag {key!r}={value!r} must be a string key and string value"], None)
                )
            if key in merged and merged[key] != value:
                raise RunPolicyViolation(
                    _statement_message([f"run_tags: {key} is set twice, to {merged[key]!r} and {value!r}"], None)
                )
            merged[key] = value
    return merged
