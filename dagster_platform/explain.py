"""Explain a job's effective run settings, for each way it is launched, and where each comes from.

Precedence, highest first (the guide's "job tags take precedence over global defaults"):
``launch tag`` (a schedule's tags or its run requests', an automation sensor's ``run_tags``) >
``job tag`` > ``location default`` (policy ``locations[NAME]``) > ``deployment setting``
(policy ``deployment_settings``) > ``platform default`` (what Dagster, dagster-aws or Fargate do
when nothing is set). The ECS override tags (``ecs/task_overrides``...) are applied by the run
launcher after ``ecs/cpu``/``ecs/memory`` and win over them (see ``ecs_overrides``).

Launch paths: ``direct`` (the UI, the API, a backfill: the job's tags, plus whatever is typed at
launch), each schedule of the job (its tick evaluated: partitioned schedules put their tags on
the run requests), each sensor of the job (its ``RunRequest`` tags exist only at tick time) and
each automation-condition sensor covering the job's assets (automation runs carry the sensor's
``run_tags``, not the asset job's tags). What only exists at launch is checked by the run guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dagster import AutomationConditionSensorDefinition, JobDefinition, RepositoryDefinition, RetryPolicy

from dagster_platform import ecs_overrides, k8s_config, limits, rules
from dagster_platform.checker import (
    ECS_EXECUTOR_NAME,
    display_path,
    ecs_executor_config,
    is_hidden_job,
    iterate_ops,
    node_subject,
    pool_limit,
    schedule_run_tags,
    step_pool,
    step_tags,
    user_jobs,
)
from dagster_platform.fargate import DEFAULT_EPHEMERAL_STORAGE_GIB
from dagster_platform.limits import TAG_RETRY_ON_ASSET_OR_OP_FAILURE
from dagster_platform.policy import LocationDefaults, RunPolicy
from dagster_platform.source_index import retry_requested_calls

LAUNCH_TAG = "launch tag"
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
class RunTimeRetry:
    """A ``RetryRequested`` in the job's op code: a literal, or computed at run time (None)."""

    subject: str
    max_retries: int | None
    where: str


@dataclass(frozen=True)
class Concurrency:
    limit: str
    value: str
    source: str


@dataclass(frozen=True)
class StepSize:
    """A step's own task under dagster-aws's ``ecs_executor`` (step tags, else the run's size)."""

    subject: str
    cpu: str
    memory: str
    source: str


@dataclass(frozen=True)
class Backfill:
    subject: str
    policy: str
    runs: str


@dataclass(frozen=True)
class Launch:
    """One way the job is launched and the settings its runs get."""

    path: str
    settings: tuple[EffectiveSetting, ...]
    note: str = ""

    def setting(self, name: str) -> EffectiveSetting:
        return next(s for s in self.settings if s.setting == name)


@dataclass(frozen=True)
class Explanation:
    job: str
    policy_label: str
    location: str | None
    settings: tuple[EffectiveSetting, ...]
    step_retries: tuple[StepRetry, ...] = field(default=())
    run_time_retries: tuple[RunTimeRetry, ...] = field(default=())
    launches: tuple[Launch, ...] = field(default=())
    concurrency: tuple[Concurrency, ...] = field(default=())
    max_op_retries: int = 0
    executor: str = ""
    step_sizes: tuple[StepSize, ...] = field(default=())
    backfills: tuple[Backfill, ...] = field(default=())

    def setting(self, name: str) -> EffectiveSetting:
        return next(s for s in self.settings if s.setting == name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> list[str]:
        where = f", location '{self.location}'" if self.location else ""
        lines = [f"job '{self.job}' ({self.policy_label}{where})"]
        lines.append(f"{self.launches[0].path}:" if self.launches else "settings:")
        lines += _table(self.settings)
        lines.append(f"executor: {self.executor}")
        lines += [f"  {step.subject}: cpu {step.cpu}, memory {step.memory} ({step.source})" for step in self.step_sizes]
        lines += self._render_retries()
        if self.backfills:
            lines.append("backfills:")
            lines += [f"  {b.subject}: {b.policy}: {b.runs}" for b in self.backfills]
        if self.concurrency:
            lines.append("concurrency that applies to its runs:")
            width = max(len(c.limit) for c in self.concurrency)
            lines += [f"  {c.limit.ljust(width)}  {c.value}  ({c.source})" for c in self.concurrency]
        for launch in self.launches[1:]:
            lines.append(f"launched by {launch.path}:" + (f" {launch.note}" if launch.note else ""))
            differing = [s for s in launch.settings if s != self.setting(s.setting) if _has(self, s.setting)]
            differing += [s for s in launch.settings if not _has(self, s.setting)]
            lines += _table(differing) if differing else ["  same settings as a direct launch"]
        return lines

    def _render_retries(self) -> list[str]:
        lines: list[str] = []
        run_retries = rules.parse_int(self.setting("max_retries").value)
        run_attempts = run_retries + 1 if run_retries is not None and run_retries >= 0 else None
        if not self.step_retries and not self.run_time_retries:
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
            lines.append(
                f"  {retry.subject}: {', '.join(details)} (set on {retry.set_on}){_worst(retry.max_retries, run_attempts)}"
            )
        for retry in self.run_time_retries:
            if retry.max_retries is None:
                lines.append(
                    f"  {retry.subject}: RetryRequested with max_retries computed at run time ({retry.where}); "
                    f"the run guard stops it past retries.max_op_retries={self.max_op_retries}"
                    f"{_worst(self.max_op_retries, run_attempts)}"
                )
            else:
                lines.append(
                    f"  {retry.subject}: RetryRequested(max_retries={retry.max_retries}) at {retry.where}"
                    f"{_worst(retry.max_retries, run_attempts)}"
                )
        return lines


def _has(explanation: Explanation, name: str) -> bool:
    return any(s.setting == name for s in explanation.settings)


def _worst(step_retries: int, run_attempts: int | None) -> str:
    attempts = step_retries + 1
    if run_attempts is None:
        return f"; up to {attempts} attempts per run"
    return f"; up to {attempts} attempts per run, {attempts * run_attempts} over {run_attempts} run attempts"


def _table(settings: Sequence[EffectiveSetting]) -> list[str]:
    rows = [("setting", "value", "layer", "source")] + [(s.setting, s.value, s.layer, s.source) for s in settings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row, setting in zip(rows, (None, *settings), strict=True):
        cells = (cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        line = "  " + "  ".join(cells) + "  " + row[3]
        if setting is not None and setting.problem:
            line += f"  ! {setting.problem}"
        lines.append(line.rstrip())
    return lines


def explain_job(
    repository: RepositoryDefinition,
    job_name: str,
    policy: RunPolicy,
    location: LocationDefaults | None = None,
    *,
    sources: Sequence[str] = (),
) -> Explanation:
    jobs = {job.name: job for job in user_jobs(repository)}
    if job_name not in jobs:
        known = ", ".join(sorted(jobs)) or "none"
        raise UnknownJob(f"unknown job {job_name!r}; jobs in this location: {known}")
    job = jobs[job_name]
    direct = Launch(
        "launched directly (UI, API, backfill; tags typed at launch are checked by the run guard)",
        effective_settings(dict(job.run_tags), {}, policy, location),
    )
    launches = [direct, *_schedule_launches(repository, job, policy, location), *_sensor_launches(repository, job, policy, location)]
    return Explanation(
        job=job_name,
        policy_label=policy.label,
        location=location.name if location else None,
        settings=direct.settings,
        step_retries=tuple(_step_retries(job)),
        run_time_retries=tuple(_run_time_retries(job, sources)),
        launches=tuple(launches),
        concurrency=tuple(_concurrency(job, dict(job.run_tags), policy)),
        max_op_retries=policy.retries.max_op_retries,
        executor=_executor(job),
        step_sizes=tuple(_step_sizes(job, direct)),
        backfills=tuple(_backfills(job, policy)),
    )


def _executor(job: JobDefinition) -> str:
    name = job.executor_def.name
    if name == ECS_EXECUTOR_NAME:
        return f"{name} (dagster-aws ecs_executor: each step runs in its own ECS task, sized by its step tags)"
    return f"{name} (steps run inside the run's task)"


def _step_sizes(job: JobDefinition, direct: Launch) -> list[StepSize]:
    if job.executor_def.name != ECS_EXECUTOR_NAME:
        return []
    sizes = []
    executor = ecs_executor_config(job)
    for handle, _definition, _policy in iterate_ops(job):
        tags = step_tags(job, handle)
        cpu = tags.get(limits.TAG_ECS_CPU)
        memory = tags.get(limits.TAG_ECS_MEMORY)
        if cpu or memory:
            source = "step tags"
        elif executor.get(limits.TAG_ECS_CPU) or executor.get(limits.TAG_ECS_MEMORY):
            cpu, memory, source = executor.get(limits.TAG_ECS_CPU), executor.get(limits.TAG_ECS_MEMORY), "ecs_executor config"
        else:
            source = "the run's size (no step tags)"
        sizes.append(
            StepSize(
                node_subject(job, handle),
                cpu or direct.setting("cpu").value,
                memory or direct.setting("memory").value,
                source,
            )
        )
    return sizes


def _backfills(job: JobDefinition, policy: RunPolicy) -> list[Backfill]:
    """Backfill policies of the job's assets: how many runs a backfill launches, and their limit."""
    backfill_limit = next(
        (str(limit.get("limit")) for limit in policy.tag_concurrency_limits if limit.get("key") == "dagster/backfill"),
        None,
    )
    limit_note = f"; at most {backfill_limit} backfill runs at once (dagster/backfill)" if backfill_limit else ""
    found = []
    seen: set[int] = set()
    for handle, _definition, _policy in iterate_ops(job):
        assets_def = job.asset_layer.get_assets_def_for_node(handle)
        if assets_def is None or id(assets_def) in seen or assets_def.backfill_policy is None:
            continue
        seen.add(id(assets_def))
        backfill = assets_def.backfill_policy
        per_run = backfill.max_partitions_per_run
        if per_run is None:
            policy_text, runs = "single_run", "one run for all selected partitions, with this job's tags"
        else:
            policy_text, runs = (
                f"multi_run(max_partitions_per_run={per_run})",
                f"one run per {per_run} partitions, each with this job's tags",
            )
        found.append(Backfill(node_subject(job, handle), policy_text, runs + limit_note))
    return found


def effective_settings(
    job_tags: Mapping[str, str],
    launch_tags: Mapping[str, str],
    policy: RunPolicy,
    location: LocationDefaults | None,
) -> tuple[EffectiveSetting, ...]:
    """The run's settings with ``launch_tags`` overlaid on ``job_tags``."""
    tags = {**job_tags, **launch_tags}
    problems = {}
    for problem in rules.check_tags(tags, policy, location):
        problems.setdefault(problem.tag if not problem.field else f"{problem.tag}: {problem.field}", problem.reason)
    resolver = _Resolver(tags, set(launch_tags), policy, location, problems)
    settings = [
        resolver.resolve("max_retries", limits.TAG_MAX_RETRIES, deployment=_deployment_max_retries(policy)),
        resolver.resolve("retry_strategy", limits.TAG_RETRY_STRATEGY),
        resolver.resolve(
            "retry_on_asset_or_op_failure", TAG_RETRY_ON_ASSET_OR_OP_FAILURE, deployment=_deployment_on_failure(policy)
        ),
        resolver.resolve("cpu", limits.TAG_ECS_CPU, location_field="run.cpu"),
        resolver.resolve("memory", limits.TAG_ECS_MEMORY, location_field="run.memory"),
        resolver.resolve(
            "ephemeral_storage_gib", limits.TAG_ECS_EPHEMERAL_STORAGE, location_field="run.ephemeral_storage_gib"
        ),
        resolver.resolve("priority", limits.TAG_PRIORITY),
        _alert_team(tags, set(launch_tags), policy, location, problems),
    ]
    settings = _apply_overrides(settings, tags, set(launch_tags), location, problems)
    return tuple(settings)


def _layer(tag: str, launch_tags: set[str]) -> str:
    return LAUNCH_TAG if tag in launch_tags else JOB_TAG


def _apply_overrides(
    settings: list[EffectiveSetting],
    tags: Mapping[str, str],
    launch_tags: set[str],
    location: LocationDefaults | None,
    problems: Mapping[str, str],
) -> list[EffectiveSetting]:
    """ECS override tags replace cpu/memory/storage as the launcher applies them; the container
    override, run_task_kwargs and dagster-k8s/config get rows of their own."""
    if not any(tag in tags for tag in (*ecs_overrides.OVERRIDE_TAGS, k8s_config.TAG_K8S_CONFIG)):
        return settings
    size = ecs_overrides.effective_task_size(tags, location)
    by_name = {s.setting: s for s in settings}
    for name, component in (("cpu", size.cpu), ("memory", size.memory), ("ephemeral_storage_gib", size.ephemeral_storage_gib)):
        if component.tag == ecs_overrides.TAG_TASK_OVERRIDES:
            source = component.source
            by_name[name] = EffectiveSetting(
                name, str(component.value), _layer(component.tag, launch_tags), source, problems.get(source)
            )
    extra = []
    for tag in ecs_overrides.OVERRIDE_TAGS[1:] + (k8s_config.TAG_K8S_CONFIG,):
        if tag in tags:
            related = [f"{key}: {reason}" for key, reason in problems.items() if key.startswith(tag)]
            extra.append(
                EffectiveSetting(
                    tag.split("/", 1)[1], tags[tag], _layer(tag, launch_tags), tag, "; ".join(related) or None
                )
            )
    return [by_name[s.setting] for s in settings] + extra


class _Resolver:
    def __init__(
        self,
        tags: Mapping[str, str],
        launch_tags: set[str],
        policy: RunPolicy,
        location: LocationDefaults | None,
        problems: Mapping[str, str],
    ) -> None:
        self.tags = tags
        self.launch_tags = launch_tags
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
            return EffectiveSetting(setting, self.tags[tag], _layer(tag, self.launch_tags), tag, self.problems.get(tag))
        if location_field is not None and self.location is not None:
            location_value = _location_value(self.location, location_field)
            if location_value is not None:
                # a lone ecs/cpu or ecs/memory tag may make the location default an invalid pair
                return EffectiveSetting(
                    setting,
                    str(location_value),
                    LOCATION_DEFAULT,
                    f"locations.{self.location.name}.{location_field}",
                    self._pair_problem(tag),
                )
        if deployment is not None:
            return EffectiveSetting(setting, deployment[0], DEPLOYMENT_SETTING, deployment[1])
        default_value, source = PLATFORM_DEFAULTS[setting]
        return EffectiveSetting(setting, default_value, PLATFORM_DEFAULT, source)

    def _pair_problem(self, tag: str) -> str | None:
        partner = {limits.TAG_ECS_CPU: limits.TAG_ECS_MEMORY, limits.TAG_ECS_MEMORY: limits.TAG_ECS_CPU}.get(tag)
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
    tags: Mapping[str, str],
    launch_tags: set[str],
    policy: RunPolicy,
    location: LocationDefaults | None,
    problems: Mapping[str, str],
) -> EffectiveSetting:
    tag = limits.TAG_ALERT_TEAM
    if tag in tags:
        return EffectiveSetting("alert_team", tags[tag], _layer(tag, launch_tags), tag, problems.get(tag))
    if location is not None and location.alert_team:
        return EffectiveSetting(
            "alert_team", location.alert_team, LOCATION_DEFAULT, f"locations.{location.name}.alert_team"
        )
    if policy.default_alert_team:
        return EffectiveSetting(
            "alert_team", policy.default_alert_team, PLATFORM_DEFAULT, "alert relay's default_alert_team"
        )
    return EffectiveSetting("alert_team", "(none)", PLATFORM_DEFAULT, "alert relay's default route")


# --- launch paths -------------------------------------------------------------------------------


def _schedule_launches(
    repository: RepositoryDefinition, job: JobDefinition, policy: RunPolicy, location: LocationDefaults | None
) -> list[Launch]:
    launches = []
    for schedule in sorted(repository.schedule_defs, key=lambda s: s.name):
        if schedule.job_name != job.name:
            continue
        evaluated = schedule_run_tags(repository, schedule)
        static_tags, _job, _origin = evaluated[0]
        requests = [(tags, origin) for tags, _j, origin in evaluated[1:]]
        if requests and requests[0][1].startswith("could not"):
            launches.append(
                Launch(f"schedule '{schedule.name}'", effective_settings(job.run_tags, schedule.tags, policy, location), requests[0][1])
            )
            continue
        if not requests:
            launches.append(
                Launch(
                    f"schedule '{schedule.name}'",
                    effective_settings(job.run_tags, schedule.tags, policy, location),
                    "(this tick requested no run; its schedule tags shown)",
                )
            )
            continue
        tags, origin = requests[0]
        launch_tags = {k: v for k, v in tags.items() if job.run_tags.get(k) != v}
        note = f"(one tick evaluated: {len(requests)} run request(s), the first shown: {origin.rstrip(': ')})"
        launches.append(Launch(f"schedule '{schedule.name}'", effective_settings(job.run_tags, launch_tags, policy, location), note))
    return launches


def _sensor_launches(
    repository: RepositoryDefinition, job: JobDefinition, policy: RunPolicy, location: LocationDefaults | None
) -> list[Launch]:
    launches = []
    job_assets = set(job.asset_layer.executable_asset_keys) if not is_hidden_job(job.name) else set()
    for sensor in sorted(repository.sensor_defs, key=lambda s: s.name):
        if isinstance(sensor, AutomationConditionSensorDefinition):
            covered = sensor.asset_selection.resolve(repository.asset_graph) if sensor.asset_selection else set()
            automated = {
                key
                for key in job_assets & set(covered)
                if repository.asset_graph.get(key).automation_condition is not None
            }
            if automated:
                launches.append(
                    Launch(
                        f"automation sensor '{sensor.name}'",
                        effective_settings({}, dict(sensor.run_tags), policy, location),
                        f"(materializes {', '.join(sorted(k.to_user_string() for k in automated))} in runs of its own: "
                        "the asset job's tags do not apply, the sensor's run_tags do)",
                    )
                )
            continue
        targets = {target.job_name for target in getattr(sensor, "targets", ()) if getattr(target, "job_name", None)}
        if job.name in targets:
            launches.append(
                Launch(
                    f"sensor '{sensor.name}'",
                    effective_settings(job.run_tags, {}, policy, location),
                    "(plus any tags its RunRequests set at tick time: checked by the run guard when launched)",
                )
            )
    return launches


# --- retries and concurrency --------------------------------------------------------------------


def _step_retries(job: JobDefinition) -> list[StepRetry]:
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


def _run_time_retries(job: JobDefinition, sources: Sequence[str]) -> list[RunTimeRetry]:
    """``RetryRequested`` calls inside the compute functions of the job's ops."""
    by_function: dict[str, str] = {}
    for handle, definition, _policy in iterate_ops(job):
        function = getattr(definition.compute_fn, "decorated_fn", None) or getattr(definition.compute_fn, "__wrapped__", None)
        name = getattr(function, "__name__", None)
        if name:
            by_function.setdefault(name, node_subject(job, handle))
    found = []
    for call in retry_requested_calls(sources):
        if call.function in by_function:
            found.append(RunTimeRetry(by_function[call.function], call.max_retries, display_path(str(call.where))))
    return found


def _concurrency(job: JobDefinition, tags: Mapping[str, str], policy: RunPolicy) -> list[Concurrency]:
    rows = []
    if policy.max_concurrent_runs is not None:
        rows.append(
            Concurrency(
                "max_concurrent_runs",
                str(policy.max_concurrent_runs),
                "deployment_settings.concurrency.runs.max_concurrent_runs",
            )
        )
    for index, limit in enumerate(policy.tag_concurrency_limits):
        key, value = limit.get("key"), limit.get("value")
        source = f"deployment_settings.concurrency.runs.tag_concurrency_limits[{index}]"
        if key == "dagster/backfill":
            rows.append(Concurrency(f"{key} (backfill runs)", str(limit.get("limit")), source))
        elif key in tags and (value is None or tags[key] == value or (isinstance(value, dict) and value.get("applyLimitPerUniqueValue"))):
            shown = f"{key}={tags[key]}" if value is not None else key
            rows.append(Concurrency(f"tag {shown}", str(limit.get("limit")), source))
    pools: dict[str, list[str]] = {}
    for handle, _definition, _policy in iterate_ops(job):
        pool = step_pool(job, handle)
        if pool:
            pools.setdefault(pool[0], []).append(node_subject(job, handle))
    for pool, subjects in sorted(pools.items()):
        limit, source = pool_limit(policy, pool)
        rows.append(
            Concurrency(f"pool {pool!r} ({', '.join(subjects)})", "unlimited" if limit is None else str(limit), source)
        )
    return rows


def _definition_noun(subject: str) -> str:
    """``asset 'orders'`` -> ``the asset``; ``op 'x'`` -> ``the op``."""
    kind = subject.split(" '", 1)[0]
    return f"the {kind}"
