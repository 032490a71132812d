"""The tag rules of the run policy, shared by the tag helpers, the checker and ``explain``.

Rules take tag values as the strings Dagster stores and return :class:`TagProblem` values whose
``reason`` completes either sentence form::

    helper:  "ecs_resources: ecs/memory=4096 is <reason>"
    checker: "job 'daily_orders': tag ecs/memory='4096': <reason>"

Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dagster_platform import ecs_overrides, fargate, k8s_config, limits
from dagster_platform.policy import LocationDefaults, RunPolicy

#: The tags whose values the policy governs.
GOVERNED_TAGS = (
    limits.TAG_ECS_CPU,
    limits.TAG_ECS_MEMORY,
    limits.TAG_ECS_EPHEMERAL_STORAGE,
    *ecs_overrides.OVERRIDE_TAGS,
    k8s_config.TAG_K8S_CONFIG,
    limits.TAG_MAX_RETRIES,
    limits.TAG_RETRY_STRATEGY,
    limits.TAG_PRIORITY,
    limits.TAG_ALERT_TEAM,
)

_TEAM_NAME = re.compile(limits.TEAM_NAME_PATTERN)
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class TagProblem:
    tag: str
    value: str
    reason: str
    #: A field inside a JSON tag (``ecs/task_overrides``: ``cpu``), or "" for the whole value.
    field: str = ""
    #: "error" breaks the policy; "warning" is reported but does not fail the check.
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def for_helper(self, helper: str) -> str:
        shown = self.value if _is_plain(self.value) else repr(self.value)
        if self.field:
            return f"{helper}: {self.tag} {self.field}={shown} is {self.reason}"
        return f"{helper}: {self.tag}={shown} is {self.reason}"

    def for_checker(self) -> str:
        if self.field:
            return f"tag {self.tag}: {self.field}={self.value!r}: {self.reason}"
        if not self.value and self.severity == "warning":
            return f"tag {self.tag}: {self.reason}"
        return f"tag {self.tag}={self.value!r}: {self.reason}"


def _is_plain(value: str) -> bool:
    """Readable without quotes in ``tag=value is ...``: printable, no whitespace at all."""
    return bool(value) and value.isprintable() and not any(char.isspace() for char in value)


def parse_int(value: str) -> int | None:
    """The integer Dagster would read from a tag value, or None (Dagster itself uses ``int()``)."""
    text = value.strip()
    return int(text) if _INTEGER.match(text) else None


def _join(values: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(v) for v in values)


def check_tags(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None = None
) -> list[TagProblem]:
    """Every policy problem in a set of run tags (tags the policy does not govern are ignored)."""
    problems = check_task_size_tags(tags, policy, location)
    checks = (
        (limits.TAG_MAX_RETRIES, check_max_retries),
        (limits.TAG_RETRY_STRATEGY, check_retry_strategy),
        (limits.TAG_PRIORITY, check_priority),
        (limits.TAG_ALERT_TEAM, check_alert_team),
    )
    for tag, rule in checks:
        if tag in tags:
            problems.extend(rule(tags[tag], policy))
    problems.extend(
        TagProblem(p.tag, p.value, p.reason, field=p.field, severity=p.severity)
        for p in ecs_overrides.check_override_tags(tags, policy, location)
    )
    if k8s_config.TAG_K8S_CONFIG in tags:
        problems.extend(
            TagProblem(k8s_config.TAG_K8S_CONFIG, value, reason, field=path, severity=severity)
            for severity, path, value, reason in k8s_config.check_k8s_config(tags[k8s_config.TAG_K8S_CONFIG], policy)
        )
    return problems


def check_task_size_tags(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None = None
) -> list[TagProblem]:
    """``ecs/cpu``, ``ecs/memory`` and ``ecs/ephemeral_storage``.

    The ECS run launcher overrides only the tags that are set and keeps the location's run task
    size for the other, so a lone ``ecs/cpu`` or ``ecs/memory`` is checked against the location's
    run default when the location is known, and reported otherwise.
    """
    problems: list[TagProblem] = []
    cpu_raw = tags.get(limits.TAG_ECS_CPU)
    memory_raw = tags.get(limits.TAG_ECS_MEMORY)
    if limits.TAG_ECS_EPHEMERAL_STORAGE in tags:
        problems.extend(check_ephemeral_storage(tags[limits.TAG_ECS_EPHEMERAL_STORAGE], policy))
    if cpu_raw is None and memory_raw is None:
        return problems

    cpu = memory = None
    cpu_note = memory_note = ""
    if cpu_raw is not None:
        cpu = parse_int(cpu_raw)
        if cpu is None:
            problems.append(
                TagProblem(
                    limits.TAG_ECS_CPU,
                    cpu_raw,
                    f"not an integer number of CPU units; allowed: {_join(_cpus(policy))}",
                )
            )
    if memory_raw is not None:
        memory = parse_int(memory_raw)
        if memory is None:
            problems.append(TagProblem(limits.TAG_ECS_MEMORY, memory_raw, "not an integer number of MiB"))

    if cpu_raw is None or memory_raw is None:
        present_tag, missing_tag = (
            (limits.TAG_ECS_MEMORY, limits.TAG_ECS_CPU)
            if cpu_raw is None
            else (limits.TAG_ECS_CPU, limits.TAG_ECS_MEMORY)
        )
        if location is None:
            present_value = memory_raw if cpu_raw is None else cpu_raw
            problems.append(
                TagProblem(
                    present_tag,
                    present_value or "",
                    f"set without {missing_tag}; set both, or check with --location to combine it "
                    f"with the location's run default",
                )
            )
            return problems
        note = f" (location '{location.name}' run default)"
        if cpu_raw is None:
            cpu, cpu_note = location.run.cpu, note
        else:
            memory, memory_note = location.run.memory, note

    if cpu is None or memory is None:
        return problems  # an unparseable value was reported above; no pair to judge
    problems.extend(_check_pair(cpu, cpu_raw, cpu_note, memory, memory_raw, memory_note, policy))
    return problems


def _cpus(policy: RunPolicy) -> tuple[int, ...]:
    return tuple(c for c in fargate.allowed_cpu() if c <= policy.limits.max_cpu)


def _memories(cpu: int, policy: RunPolicy) -> tuple[int, ...]:
    return tuple(m for m in fargate.allowed_memory(cpu) if m <= policy.limits.max_memory_mib)


def _check_pair(
    cpu: int,
    cpu_raw: str | None,
    cpu_note: str,
    memory: int,
    memory_raw: str | None,
    memory_note: str,
    policy: RunPolicy,
) -> list[TagProblem]:
    # A value that came from the location default is not the user's to fix: blame the set tag.
    if cpu not in fargate.FARGATE_TASK_SIZES:
        if cpu_raw is None:
            return []  # the policy loader already rejects non-Fargate location defaults
        return [
            TagProblem(
                limits.TAG_ECS_CPU, cpu_raw, f"not a Fargate CPU value; allowed: {_join(_cpus(policy))}"
            )
        ]
    if cpu > policy.limits.max_cpu:
        if cpu_raw is None:
            return []
        return [
            TagProblem(
                limits.TAG_ECS_CPU,
                cpu_raw,
                f"above the {policy.label} cap limits.max_cpu={policy.limits.max_cpu}; allowed: {_join(_cpus(policy))}",
            )
        ]
    allowed = _memories(cpu, policy)
    if memory not in fargate.allowed_memory(cpu):
        tag, raw, other = (
            (limits.TAG_ECS_MEMORY, memory_raw, f"ecs/cpu={cpu}{cpu_note}")
            if memory_raw is not None
            else (limits.TAG_ECS_CPU, cpu_raw, f"ecs/memory={memory}{memory_note}")
        )
        if memory_raw is not None:
            detail = f"allowed: {_join(allowed)}" if allowed else f"no memory within the {policy.label} caps"
        else:
            cpus = [c for c in _cpus(policy) if memory in fargate.allowed_memory(c)]
            detail = f"allowed: {_join(cpus)}" if cpus else "no Fargate CPU value offers that memory"
        return [TagProblem(tag, raw or "", f"not offered by Fargate with {other}; {detail}")]
    if memory > policy.limits.max_memory_mib:
        if memory_raw is None:
            return []
        return [
            TagProblem(
                limits.TAG_ECS_MEMORY,
                memory_raw,
                f"above the {policy.label} cap limits.max_memory_mib={policy.limits.max_memory_mib}; "
                f"allowed with ecs/cpu={cpu}{cpu_note}: {_join(allowed) or 'none'}",
            )
        ]
    return []


def ephemeral_storage_range(policy: RunPolicy) -> tuple[int, int]:
    low, high = fargate.EPHEMERAL_STORAGE_GIB
    return low, min(high, policy.limits.max_ephemeral_storage_gib)


def check_ephemeral_storage(value: str, policy: RunPolicy) -> list[TagProblem]:
    low, high = ephemeral_storage_range(policy)
    gib = parse_int(value)
    if gib is None:
        return [
            TagProblem(
                limits.TAG_ECS_EPHEMERAL_STORAGE,
                value,
                f"not an integer number of GiB; allowed: {low}..{high}",
            )
        ]
    if gib < low:
        return [
            TagProblem(
                limits.TAG_ECS_EPHEMERAL_STORAGE,
                value,
                f"below Fargate's minimum of {low} GiB; allowed: {low}..{high}",
            )
        ]
    if gib > high:
        cap = (
            f"the {policy.label} cap limits.max_ephemeral_storage_gib={high}"
            if high == policy.limits.max_ephemeral_storage_gib
            else f"Fargate's maximum of {high} GiB"
        )
        return [TagProblem(limits.TAG_ECS_EPHEMERAL_STORAGE, value, f"above {cap}; allowed: {low}..{high}")]
    return []


def check_max_retries(value: str, policy: RunPolicy) -> list[TagProblem]:
    cap = policy.retries.max_run_retries
    retries = parse_int(value)
    if retries is None:
        return [TagProblem(limits.TAG_MAX_RETRIES, value, f"not an integer; allowed: 0..{cap}")]
    if retries < 0:
        return [TagProblem(limits.TAG_MAX_RETRIES, value, f"negative; allowed: 0..{cap}")]
    if retries > cap:
        return [
            TagProblem(
                limits.TAG_MAX_RETRIES,
                value,
                f"above the {policy.label} cap retries.max_run_retries={cap}; allowed: 0..{cap}",
            )
        ]
    return []


def check_retry_strategy(value: str, policy: RunPolicy) -> list[TagProblem]:
    if value in policy.retries.strategies:
        return []
    return [
        TagProblem(
            limits.TAG_RETRY_STRATEGY,
            value,
            f"not a retry strategy the {policy.label} allows; allowed: {', '.join(policy.retries.strategies)}",
        )
    ]


def check_priority(value: str, policy: RunPolicy) -> list[TagProblem]:
    low, high = policy.priority.min, policy.priority.max
    priority = parse_int(value)
    if priority is None:
        return [TagProblem(limits.TAG_PRIORITY, value, f"not an integer; allowed: {low}..{high}")]
    if not low <= priority <= high:
        return [
            TagProblem(
                limits.TAG_PRIORITY, value, f"outside the {policy.label} range; allowed: {low}..{high}"
            )
        ]
    return []


def check_alert_team(value: str, policy: RunPolicy) -> list[TagProblem]:
    if policy.alert_teams:
        if value in policy.alert_teams:
            return []
        return [
            TagProblem(
                limits.TAG_ALERT_TEAM,
                value,
                f"not a team in the {policy.label}; allowed: {', '.join(policy.alert_teams)}",
            )
        ]
    if _TEAM_NAME.match(value):
        return []
    return [
        TagProblem(
            limits.TAG_ALERT_TEAM,
            value,
            f"not a valid team name; allowed: names matching {limits.TEAM_NAME_PATTERN}",
        )
    ]


def missing_required_tags(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None = None
) -> list[str]:
    """Required tags a job lacks. ``alert_team`` alone may come from the location's default,
    because the platform's alert sensors fall back to that team for runs without the tag."""
    missing = []
    for tag in policy.required_tags:
        if tag in tags:
            continue
        if tag == limits.TAG_ALERT_TEAM and location is not None and location.alert_team:
            continue
        missing.append(tag)
    return missing
