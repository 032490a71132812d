"""Check a code location against the run policy: every place a run's tags, resources, retries and
team come from.

* jobs (op jobs and asset jobs, ``define_asset_job`` ones resolved the way Dagster resolves
  them): run tags, including the ECS override tags (``ecs/task_overrides``,
  ``ecs/container_overrides``, ``ecs/run_task_kwargs``) and ``dagster-k8s/config``, and the
  policy's ``required_tags`` (``alert_team`` may come from the location, see ``rules``);
* schedules: the tags of the run requests they really produce, found by evaluating one tick with
  an ephemeral Dagster instance (``build_schedule_from_partitioned_job`` puts its tags on the run
  requests only), overlaid on the job's tags; only problems the job does not already have are
  reported;
* sensors: governed tags on the sensor and an automation-condition sensor's ``run_tags`` (a
  sensor's own ``RunRequest`` tags exist only at tick time: :mod:`dagster_platform.run_guard`
  checks the runs they launch);
* assets: the ``alert_team`` tag, by which the platform's sensors route asset alerts;
* steps: op tags (``ecs/*`` step tags size each step's task under dagster-aws's ``ecs_executor``
  and are ignored by other executors), and pools (``pool=`` / ``dagster/concurrency_key``)
  against the deployment's pool limits;
* retries: every op/asset/check ``RetryPolicy``, every job's ``op_retry_policy``, and every
  ``RetryRequested(max_retries=...)`` in the location's source (read with ``ast``).

Each violation names the file and line where the definition is written, when the source shows it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from dagster import (
    AutomationConditionSensorDefinition,
    DagsterInstance,
    JobDefinition,
    OpDefinition,
    RepositoryDefinition,
    RetryPolicy,
    ScheduleDefinition,
    build_schedule_context,
)
from dagster._core.definitions.dependency import NodeHandle

from dagster_platform import limits, rules
from dagster_platform.policy import LocationDefaults, RunPolicy
from dagster_platform.source_index import DefinitionIndex, SourceLine, retry_requested_calls

TAG_CONCURRENCY_KEY = "dagster/concurrency_key"
ECS_EXECUTOR_NAME = "ecs"
_STEP_TAGS = tuple(tag for tag in rules.GOVERNED_TAGS if tag.startswith("ecs/"))


@dataclass(frozen=True)
class Violation:
    subject: str
    message: str
    where: SourceLine | None = None
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def line(self, definitions_path: str) -> str:
        where = display_path(str(self.where)) if self.where else definitions_path
        marker = "warning: " if not self.is_error else ""
        return f"{where}: {marker}{self.subject}: {self.message}"


def display_path(path_and_line: str) -> str:
    """Paths under the current directory are shown relative to it, as the user typed them."""
    path, _, line = path_and_line.rpartition(":")
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path_and_line
    shown = path if relative.startswith("..") else relative
    return f"{shown}:{line}"


@dataclass
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    jobs: int = 0
    schedules: int = 0
    sensors: int = 0
    nodes: int = 0

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.is_error]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if not v.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, policy: RunPolicy) -> str:
        return (
            f"{self.jobs} jobs, {self.schedules} schedules, {self.sensors} sensors, "
            f"{self.nodes} assets/ops checked against {policy.label}"
        )


def is_hidden_job(name: str) -> bool:
    """Dagster's implicit asset job and the anonymous jobs of asset-selection schedules/sensors."""
    return name.startswith("__")


def user_jobs(repository: RepositoryDefinition) -> list[JobDefinition]:
    return sorted(
        (job for job in repository.get_all_jobs() if not is_hidden_job(job.name)), key=lambda job: job.name
    )


class _Report:
    def __init__(self, index: DefinitionIndex) -> None:
        self.index = index
        self.violations: list[Violation] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, subject: str, message: str, *names: str, severity: str = "error", where: SourceLine | None = None) -> None:
        if (subject, message) in self._seen:
            return
        self._seen.add((subject, message))
        self.violations.append(Violation(subject, message, where or self.index.find(*names), severity))


def check_repository(
    repository: RepositoryDefinition,
    policy: RunPolicy,
    location: LocationDefaults | None = None,
    *,
    sources: Sequence[str] = (),
) -> CheckResult:
    """Every violation in the repository; ``sources`` are the location's Python files (for
    ``file:line`` in messages and the ``RetryRequested`` scan)."""
    result = CheckResult()
    report = _Report(DefinitionIndex.build(sources))
    job_messages: dict[str, set[str]] = {}

    for job in user_jobs(repository):
        result.jobs += 1
        problems = tag_problems(job.run_tags, policy, location, required=True)
        job_messages[job.name] = {message for message, _ in problems}
        for message, severity in problems:
            report.add(f"job '{job.name}'", message, job.name, severity=severity)

    schedules = sorted(repository.schedule_defs, key=lambda s: s.name)
    with contextlib.ExitStack() as stack:
        lazy = _LazyInstance(stack)
        evaluated = [(s, schedule_run_tags(repository, s, instance=lazy)) for s in schedules]
    for schedule, requests in evaluated:
        result.schedules += 1
        subject = f"schedule '{schedule.name}'"
        reported = set()
        for tags, job, origin in requests:
            if origin.startswith("could not"):
                report.add(subject, origin, schedule.name, job.name, severity="warning")
                continue
            # a problem the job has, or that an earlier run request already showed, is said once
            already = job_messages.get(job.name, set()) | reported
            for message, severity in tag_problems(tags, policy, location, required=is_hidden_job(job.name)):
                if message not in already:
                    reported.add(message)
                    report.add(subject, f"{origin}{message}", schedule.name, job.name, severity=severity)

    for sensor in sorted(repository.sensor_defs, key=lambda s: s.name):
        result.sensors += 1
        subject = f"sensor '{sensor.name}'"
        governed = {tag: value for tag, value in sensor.tags.items() if tag in rules.GOVERNED_TAGS}
        for message, severity in tag_problems(governed, policy, location, required=False):
            report.add(subject, message, sensor.name, severity=severity)
        if isinstance(sensor, AutomationConditionSensorDefinition):
            for message, severity in tag_problems(sensor.run_tags, policy, location, required=False):
                report.add(subject, f"run_tags: {message}", sensor.name, severity=severity)

    _check_assets(repository, policy, report)
    result.nodes = _check_steps(repository, policy, location, report)
    _check_retry_requested(sources, policy, report)
    result.violations = report.violations
    return result


def tag_problems(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None, *, required: bool
) -> list[tuple[str, str]]:
    """(message, severity) for every problem in a run's tags."""
    problems = [(p.for_checker(), p.severity) for p in rules.check_tags(tags, policy, location)]
    if required:
        problems += [
            (f"missing required tag {tag} (required_tags of the {policy.label})", "error")
            for tag in rules.missing_required_tags(tags, policy, location)
        ]
    return problems


# --- schedules ----------------------------------------------------------------------------------


class _LazyInstance:
    """An ephemeral Dagster instance, created only if a schedule needs one (its first creation
    costs seconds of imports; most schedules evaluate without an instance)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._instance: DagsterInstance | None = None

    def get(self) -> DagsterInstance:
        if self._instance is None:
            self._instance = self._stack.enter_context(DagsterInstance.ephemeral())
        return self._instance


def schedule_run_tags(
    repository: RepositoryDefinition,
    schedule: ScheduleDefinition,
    *,
    instance: _LazyInstance | None = None,
    now: datetime.datetime | None = None,
) -> list[tuple[dict[str, str], JobDefinition, str]]:
    """The tags of the runs a schedule launches: ``(tags, job, origin)`` per run request of one
    evaluated tick, plus the static overlay of the schedule's own tags on its job's. ``origin`` is
    a message prefix naming the run request, or a ``could not evaluate...`` note. The tick is
    evaluated as the scheduler would, first without an instance, then with an ephemeral one."""
    job = repository.get_job(schedule.job_name)
    found: list[tuple[dict[str, str], JobDefinition, str]] = [({**job.run_tags, **schedule.tags}, job, "")]
    scheduled = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        try:
            context = build_schedule_context(scheduled_execution_time=scheduled, repository_def=repository)
            data = schedule.evaluate_tick(context)
        except Exception:
            with contextlib.ExitStack() as stack:
                active = (instance or _LazyInstance(stack)).get()
                context = build_schedule_context(
                    instance=active, scheduled_execution_time=scheduled, repository_def=repository
                )
                data = schedule.evaluate_tick(context)
    except Exception as exc:  # user code: report, don't crash
        while exc.__cause__ is not None and type(exc).__module__.startswith("dagster"):
            exc = exc.__cause__  # the user's own error under Dagster's wrapper
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return found + [
            (
                {},
                job,
                f"could not evaluate its run requests ({type(exc).__name__}: {first_line}); "
                "their tags are checked when the runs are launched (run guard)",
            )
        ]
    for request in data.run_requests or ():
        request_job = repository.get_job(request.job_name) if request.job_name else job
        key = request.partition_key or request.run_key
        origin = f"run request{f' {key!r}' if key else ''}: "
        found.append(({**request_job.run_tags, **request.tags}, request_job, origin))
    return found


# --- assets, steps and pools --------------------------------------------------------------------


def _check_assets(repository: RepositoryDefinition, policy: RunPolicy, report: _Report) -> None:
    seen: set[int] = set()
    for assets_def in repository.assets_defs_by_key.values():
        if id(assets_def) in seen:
            continue
        seen.add(id(assets_def))
        for key, tags in sorted(assets_def.tags_by_key.items(), key=lambda item: item[0].to_user_string()):
            if limits.TAG_ALERT_TEAM not in tags:
                continue
            for problem in rules.check_alert_team(tags[limits.TAG_ALERT_TEAM], policy):
                report.add(
                    f"asset '{key.to_user_string()}'",
                    f"{problem.for_checker()} (the platform's sensors route this asset's freshness and check alerts by it)",
                    key.path[-1],
                )


def node_subject(job: JobDefinition, handle: NodeHandle) -> str:
    """How people know a node: by its asset key(s) or check key, else as an op."""
    assets_def = job.asset_layer.get_assets_def_for_node(handle)
    if assets_def is not None:
        asset_keys = sorted(key.to_user_string() for key in assets_def.keys)
        if asset_keys:
            noun = "asset" if len(asset_keys) == 1 else "assets"
            return f"{noun} {', '.join(repr(k) for k in asset_keys)}"
        check_keys = sorted(key.to_user_string() for key in assets_def.check_keys)
        if check_keys:
            return f"asset check {', '.join(repr(k) for k in check_keys)}"
    return f"op '{handle}'"


def _source_names(job: JobDefinition, handle: NodeHandle) -> tuple[str, ...]:
    assets_def = job.asset_layer.get_assets_def_for_node(handle)
    names = [key.path[-1] for key in assets_def.keys] if assets_def is not None else []
    return (*names, handle.name, job.graph.get_node(handle).definition.name)


def iterate_ops(job: JobDefinition) -> Iterator[tuple[NodeHandle, OpDefinition, RetryPolicy | None]]:
    """Every op of the job with the retry policy set on the op or its invocation (not the job's)."""
    for handle in job.graph.iterate_node_handles():
        node = job.graph.get_node(handle)
        definition = node.definition
        if isinstance(definition, OpDefinition):
            yield handle, definition, node.retry_policy or definition.retry_policy


def step_tags(job: JobDefinition, handle: NodeHandle) -> dict[str, str]:
    node = job.graph.get_node(handle)
    return {**node.definition.tags, **node.tags}


def step_pool(job: JobDefinition, handle: NodeHandle) -> tuple[str, str] | None:
    """(pool, where it is set) of a step: ``pool=`` on the op/asset, else ``dagster/concurrency_key``."""
    definition = job.graph.get_node(handle).definition
    pool = getattr(definition, "pool", None)
    if pool:
        return pool, "pool="
    key = step_tags(job, handle).get(TAG_CONCURRENCY_KEY)
    return (key, f"tag {TAG_CONCURRENCY_KEY}") if key else None


def ecs_executor_config(job: JobDefinition) -> dict[str, str]:
    """The ``ecs_executor``'s own sizes for every step, as the tags they stand for: its
    ``.configured(...)`` values, overlaid with the job's default run config
    (``execution.config``). Step tags override ``cpu``/``memory``; ``task_overrides`` merge."""
    if job.executor_def.name != ECS_EXECUTOR_NAME:
        return {}
    config: dict = {}
    schema = job.executor_def.config_schema
    resolved = schema.resolve_config({}) if hasattr(schema, "resolve_config") else None  # .configured(...) only
    if resolved is not None and resolved.success and isinstance(resolved.value, Mapping):
        config.update(resolved.value.get("config") or {})
    run_config = job.run_config if isinstance(getattr(job, "run_config", None), Mapping) else {}
    execution = (run_config.get("execution") or {}) if isinstance(run_config, Mapping) else {}
    config.update((execution.get("config") or {}) if isinstance(execution, Mapping) else {})
    tags = {}
    for key, tag in (("cpu", limits.TAG_ECS_CPU), ("memory", limits.TAG_ECS_MEMORY), ("ephemeral_storage", limits.TAG_ECS_EPHEMERAL_STORAGE)):
        if config.get(key) is not None:
            tags[tag] = str(config[key])
    if config.get("task_overrides"):
        tags["ecs/task_overrides"] = json.dumps(config["task_overrides"])
    return tags


def pool_limit(policy: RunPolicy, pool: str) -> tuple[int | None, str]:
    """The deployment's limit for a pool and where it comes from."""
    limit = policy.pool_default_limit
    if limit is not None:
        return limit, "deployment_settings.concurrency.pools.default_limit"
    return None, "no pool limit in the deployment settings"


def retry_policy_problems(retry_policy: RetryPolicy, policy: RunPolicy) -> list[str]:
    cap = policy.retries.max_op_retries
    problems = []
    if retry_policy.max_retries > cap:
        problems.append(
            f"RetryPolicy max_retries={retry_policy.max_retries}: above the {policy.label} cap "
            f"retries.max_op_retries={cap}; allowed: 0..{cap}"
        )
    elif retry_policy.max_retries < 0:
        problems.append(f"RetryPolicy max_retries={retry_policy.max_retries}: negative; allowed: 0..{cap}")
    if retry_policy.delay is not None and retry_policy.delay < 0:
        problems.append(f"RetryPolicy delay={retry_policy.delay}: negative; allowed: 0 seconds or more")
    return problems


def _check_steps(
    repository: RepositoryDefinition, policy: RunPolicy, location: LocationDefaults | None, report: _Report
) -> int:
    """Retry policies, step tags and pools of every op; hidden jobs included (the implicit asset
    job is where every asset shows up). Returns how many distinct assets/ops were checked."""
    subjects: set[str] = set()
    knows_deployment = "concurrency" in policy.deployment_settings.other
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.op_retry_policy is not None:
            for message in retry_policy_problems(job.op_retry_policy, policy):
                report.add(f"job '{job.name}'", f"op_retry_policy {message}", job.name)
        ecs_steps = job.executor_def.name == ECS_EXECUTOR_NAME
        executor_tags = ecs_executor_config(job)
        executor_messages = set()
        for message, severity in tag_problems(executor_tags, policy, location, required=False):
            executor_messages.add(message)
            report.add(f"job '{job.name}'", f"ecs_executor config {message}", job.name, severity=severity)
        for handle, _definition, retry_policy in iterate_ops(job):
            subject = node_subject(job, handle)
            names = _source_names(job, handle)
            subjects.add(subject)
            if retry_policy is not None:
                for message in retry_policy_problems(retry_policy, policy):
                    report.add(subject, message, *names)
            tags = {k: v for k, v in step_tags(job, handle).items() if k in _STEP_TAGS}
            if tags and ecs_steps:
                for message, severity in tag_problems({**executor_tags, **tags}, policy, location, required=False):
                    if message not in executor_messages:
                        report.add(subject, f"step {message}", *names, severity=severity)
            elif tags and not is_hidden_job(job.name):
                report.add(
                    subject,
                    f"step tags {', '.join(sorted(tags))} are ignored by job '{job.name}''s executor "
                    f"'{job.executor_def.name}': only dagster-aws's ecs_executor sizes steps; "
                    "set them on the job to size the run",
                    *names,
                    severity="warning",
                )
            pool = step_pool(job, handle)
            if pool and knows_deployment and pool_limit(policy, pool[0])[0] is None:
                report.add(
                    subject,
                    f"pool {pool[0]!r} ({pool[1]}) has no limit in the {policy.label}: "
                    "deployment_settings.concurrency.pools.default_limit is not set, so the pool "
                    "does not limit anything",
                    *names,
                )
    return len(subjects)


def _check_retry_requested(sources: Sequence[str], policy: RunPolicy, report: _Report) -> None:
    cap = policy.retries.max_op_retries
    for call in retry_requested_calls(sources):
        if call.max_retries is None:
            report.add(
                "RetryRequested",
                f"max_retries computed at run time ({call.expression}); the run guard stops a step "
                f"retried more than retries.max_op_retries={cap} times",
                where=call.where,
                severity="warning",
            )
        elif call.max_retries > cap:
            report.add(
                "RetryRequested",
                f"max_retries={call.max_retries}: above the {policy.label} cap "
                f"retries.max_op_retries={cap}; allowed: 0..{cap}",
                where=call.where,
            )
        elif call.max_retries < 0:
            report.add("RetryRequested", f"max_retries={call.max_retries}: negative; allowed: 0..{cap}", where=call.where)
