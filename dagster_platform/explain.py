"""Explain a job's effective run settings and which layer each one comes from.

Precedence, highest first (the guide's "job tags take precedence over global defaults"):
``job tag`` > ``location default`` (policy ``locations[NAME]``) > ``deployment setting``
(policy ``deployment_settings``) > ``platform default`` (what Dagster, dagster-aws or Fargate
do when nothing is set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster import RepositoryDefinition, RetryPolicy

from dagster_platform import limits, rules
from dagster_platform.fargate import DEFAULT_EPHEMERAL_STORAGE_GIB
from dagster_platform.limits import TAG_RETRY_ON_ASSET_OR_OP_FAILURE
from dagster_platform.checker import iterate_ops, node_subject, user_jobs
from dagster_platform.policy import LocationDefaults, RunPolicy

JOB_TAG = "job tag"
LOCATION_DEFAULT = "location default"
DEPLOYMENT_SETTING = "deployment setting"
PLATFORM_DEFAULT = "platform default"

#: What runs get when nothing is set: Dagster (retries, priority), dagster-aws's ECS run launcher
#: (``DEFAULT_LINUX_RESOURCES``) and Fargate (20 GiB ephemeral storage).
PLATFORM_DEFAULTS = {
    "max_retries": ("0", "Dagster: no run retries"),
    "retry_strategy": ("FROM_FAILURE", "Dagster default"),
    "retry_on_asset_or_op_failure": ("true", "Dagster default"),
    "cpu": ("256", "dagster-aws ECS run launcher default"),
    "memory": ("512", "dagster-aws ECS run launcher default"),
    "ephemeral_storage_gib": (str(DEFAULT_EPHEMERAL_STORAGE_GIB), "Fargate default"),
    "priority": ("0", "Dagster default"),
}


class UnknownJob(LookupError):
    pass


@dataclass(frozen=True)
class EffectiveSetting:
    setting: str
    value: str
    layer: str
    source: str
    problem: str | None = None


@dataclass(frozen=True)
class StepRetry:
    subject: str
    max_retries: int
    delay: float | None
    backoff: str | None
    jitter: str | None
    set_on: str


@dataclass(frozen=True)
class Explanation:
    job: str
    policy_label: str
    location: str | None
    settings: tuple[EffectiveSetting, ...]
    step_retries: tuple[StepRetry, ...] = field(default=())

    def setting(self, name: str) -> EffectiveSetting:
        return next(s for s in self.settings if s.setting == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> list[str]:
        where = f", location '{self.location}'" if self.location else ""
        lines = [f"job '{self.job}' ({self.policy_label}{where})"]
        rows = [("setting", "value", "layer", "source")] + [
            (s.setting, s.value, s.layer, s.source) for s in self.settings
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row, setting in zip(rows, (None, *self.settings), strict=True):
            cells = (cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            line = "  " + "  ".join(cells) + "  " + row[3]
            if setting is not None and setting.problem:
                line += f"  ! {setting.problem}"
            lines.append(line.rstrip())
        run_retries = rules.parse_int(self.setting("max_retries").value)
        run_attempts = run_retries + 1 if run_retries is not None and run_retries >= 0 else None
        if not self.step_retries:
            lines.append("op/asset retry policies: none")
            return lines
        lines.append(
            "op/asset retry policies (additive: a failed step is retried inside its run first; "
            "run retries then re-execute the run):"
        )
        for retry in self.step_retries:
            details = [f"max_retries={retry.max_retries}"]
            if retry.delay is not None:
                details.append(f"delay={retry.delay:g}s")
            if retry.backoff:
                details.append(f"backoff={retry.backoff}")
            if retry.jitter:
                details.append(f"jitter={retry.jitter}")
            attempts = retry.max_retries + 1
            total = (
                f"; up to {attempts} attempts per run, {attempts * run_attempts} over {run_attempts} run attempts"
                if run_attempts is not None
                else f"; up to {attempts} attempts per run"
            )
            lines.append(f"  {retry.subject}: {', '.join(details)} (set on {retry.set_on}){total}")
        return lines


def explain_job(
    repository: RepositoryDefinition,
    job_name: str,
    policy: RunPolicy,
    location: LocationDefaults | None = None,
) -> Explanation:
    jobs = {job.name: job for job in user_jobs(repository)}
    if job_name not in jobs:
        known = ", ".join(sorted(jobs)) or "none"
        raise UnknownJob(f"unknown job {job_name!r}; jobs in this location: {known}")
    job = jobs[job_name]
    tags = dict(job.run_tags)
    problems: dict[str, str] = {p.tag: p.reason for p in rules.check_tags(tags, policy, location)}
    resolver = _Resolver(tags, policy, location, problems)
    settings = (
        resolver.resolve("max_retries", limits.TAG_MAX_RETRIES, deployment=_deployment_max_retries(policy)),
        resolver.resolve("retry_strategy", limits.TAG_RETRY_STRATEGY),
        resolver.resolve(
            "retry_on_asset_or_op_failure",
            TAG_RETRY_ON_ASSET_OR_OP_FAILURE,
            deployment=_deployment_on_failure(policy),
        ),
        resolver.resolve("cpu", limits.TAG_ECS_CPU, location_field="run.cpu"),
        resolver.resolve("memory", limits.TAG_ECS_MEMORY, location_field="run.memory"),
        resolver.resolve(
            "ephemeral_storage_gib",
            limits.TAG_ECS_EPHEMERAL_STORAGE,
            location_field="run.ephemeral_storage_gib",
        ),
        resolver.resolve("priority", limits.TAG_PRIORITY),
        _alert_team(tags, policy, location, problems),
    )
    return Explanation(
        job=job_name,
        policy_label=policy.label,
        location=location.name if location else None,
        settings=settings,
        step_retries=tuple(_step_retries(repository, job_name)),
    )


class _Resolver:
    def __init__(
        self,
        tags: Mapping[str, str],
        policy: RunPolicy,
        location: LocationDefaults | None,
        problems: Mapping[str, str],
    ) -> None:
        self.tags = tags
        self.policy = policy
        self.location = location
        self.problems = problems

    def resolve(
        self,
        setting: str,
        tag: str,
        *,
        location_field: str | None = None,
        deployment: tuple[str, str] | None = None,
    ) -> EffectiveSetting:
        if tag in self.tags:
            return EffectiveSetting(setting, self.tags[tag], JOB_TAG, tag, self.problems.get(tag))
        if location_field is not None and self.location is not None:
            location_value = _location_value(self.location, location_field)
            if location_value is not None:
                # a lone ecs/cpu or ecs/memory tag may make the location default an invalid pair
                problem = self._pair_problem(tag)
                return EffectiveSetting(
                    setting,
                    str(location_value),
                    LOCATION_DEFAULT,
                    f"locations.{self.location.name}.{location_field}",
                    problem,
                )
        if deployment is not None:
            return EffectiveSetting(setting, deployment[0], DEPLOYMENT_SETTING, deployment[1])
        default_value, source = PLATFORM_DEFAULTS[setting]
        return EffectiveSetting(setting, default_value, PLATFORM_DEFAULT, source)

    def _pair_problem(self, tag: str) -> str | None:
        partner = {limits.TAG_ECS_CPU: limits.TAG_ECS_MEMORY, limits.TAG_ECS_MEMORY: limits.TAG_ECS_CPU}.get(
            tag
        )
        if partner is None or partner not in self.problems:
            return None
        return f"see {partner}"


def _location_value(location: LocationDefaults, dotted: str) -> int | None:
    section, name = dotted.split(".")
    return getattr(getattr(location, section), name)


def _deployment_max_retries(policy: RunPolicy) -> tuple[str, str] | None:
    run_retries = policy.deployment_settings.run_retries
    if run_retries is None:
        return None
    return str(run_retries.max_retries), "deployment_settings.run_retries.max_retries"


def _deployment_on_failure(policy: RunPolicy) -> tuple[str, str] | None:
    run_retries = policy.deployment_settings.run_retries
    if run_retries is None:
        return None
    value = "true" if run_retries.retry_on_asset_or_op_failure else "false"
    return value, "deployment_settings.run_retries.retry_on_asset_or_op_failure"


def _alert_team(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None, problems: Mapping[str, str]
) -> EffectiveSetting:
    tag = limits.TAG_ALERT_TEAM
    if tag in tags:
        return EffectiveSetting("alert_team", tags[tag], JOB_TAG, tag, problems.get(tag))
    if location is not None and location.alert_team:
        return EffectiveSetting(
            "alert_team", location.alert_team, LOCATION_DEFAULT, f"locations.{location.name}.alert_team"
        )
    if policy.default_alert_team:
        return EffectiveSetting(
            "alert_team", policy.default_alert_team, PLATFORM_DEFAULT, "alert relay's default_alert_team"
        )
    return EffectiveSetting("alert_team", "(none)", PLATFORM_DEFAULT, "alert relay's default route")


def _step_retries(repository: RepositoryDefinition, job_name: str) -> list[StepRetry]:
    job = repository.get_job(job_name)
    retries = []
    for handle, _definition, own_policy in iterate_ops(job):
        retry_policy: RetryPolicy | None = own_policy or job.op_retry_policy
        if retry_policy is None:
            continue
        subject = node_subject(job, handle)
        retries.append(
            StepRetry(
                subject=subject,
                max_retries=retry_policy.max_retries,
                delay=retry_policy.delay,
                backoff=retry_policy.backoff.value if retry_policy.backoff else None,
                jitter=retry_policy.jitter.value if retry_policy.jitter else None,
                set_on=_definition_noun(subject) if own_policy is not None else "the job's op_retry_policy",
            )
        )
    return sorted(retries, key=lambda r: r.subject)


def _definition_noun(subject: str) -> str:
    """``asset 'orders'`` -> ``the asset``; ``op 'x'`` -> ``the op``."""
    kind = subject.split(" '", 1)[0]
    return f"the {kind}"
