"""Check a code location's jobs, schedules, sensors and retry policies against the run policy.

What is checked, and against which tags:

* every job (op jobs and asset jobs, ``define_asset_job`` ones resolved the way Dagster resolves
  them): its run tags, and the policy's ``required_tags``. A job without ``alert_team`` passes the
  ``required_tags`` rule when the location (``--location``) has an ``alert_team``: the platform's
  alert sensors route such runs to the location's team. No other required tag is inherited.
* every schedule: the tags its runs get, i.e. the job's run tags overlaid with the schedule's.
  Only problems the job does not already have are reported (under the schedule's name).
  Schedules on asset selections run an anonymous job, so ``required_tags`` apply to them too.
* every sensor: governed tags in its tags, and an automation-condition sensor's ``run_tags``.
  Tags a sensor sets on its ``RunRequest`` at tick time cannot be seen statically.
* every op/asset/check ``RetryPolicy`` and every job's ``op_retry_policy``: ``max_retries`` within
  ``retries.max_op_retries``, ``delay`` not negative.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dagster import (
    AutomationConditionSensorDefinition,
    JobDefinition,
    OpDefinition,
    RepositoryDefinition,
    RetryPolicy,
)
from dagster._core.definitions.dependency import NodeHandle

from dagster_platform import rules
from dagster_platform.policy import LocationDefaults, RunPolicy


@dataclass(frozen=True)
class Violation:
    subject: str
    message: str

    def line(self, definitions_path: str) -> str:
        return f"{definitions_path}: {self.subject}: {self.message}"


@dataclass
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    jobs: int = 0
    schedules: int = 0
    sensors: int = 0
    nodes: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

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


def check_repository(
    repository: RepositoryDefinition, policy: RunPolicy, location: LocationDefaults | None = None
) -> CheckResult:
    result = CheckResult()
    job_messages: dict[str, set[str]] = {}

    for job in user_jobs(repository):
        result.jobs += 1
        messages = _run_tag_messages(job.run_tags, policy, location, required=True)
        job_messages[job.name] = set(messages)
        result.violations.extend(Violation(f"job '{job.name}'", message) for message in messages)

    for schedule in sorted(repository.schedule_defs, key=lambda s: s.name):
        result.schedules += 1
        job = repository.get_job(schedule.job_name)
        effective = {**job.run_tags, **schedule.tags}
        messages = _run_tag_messages(effective, policy, location, required=is_hidden_job(job.name))
        already_reported = job_messages.get(job.name, set())
        result.violations.extend(
            Violation(f"schedule '{schedule.name}'", message)
            for message in messages
            if message not in already_reported
        )

    for sensor in sorted(repository.sensor_defs, key=lambda s: s.name):
        result.sensors += 1
        subject = f"sensor '{sensor.name}'"
        governed = {tag: value for tag, value in sensor.tags.items() if tag in rules.GOVERNED_TAGS}
        messages = _run_tag_messages(governed, policy, location, required=False)
        if isinstance(sensor, AutomationConditionSensorDefinition):
            messages += [
                f"run_tags: {m}" for m in _run_tag_messages(sensor.run_tags, policy, location, required=False)
            ]
        result.violations.extend(Violation(subject, message) for message in messages)

    nodes, retry_violations = _check_retry_policies(repository, policy)
    result.nodes = nodes
    result.violations.extend(retry_violations)
    return result


def _run_tag_messages(
    tags: Mapping[str, str], policy: RunPolicy, location: LocationDefaults | None, *, required: bool
) -> list[str]:
    messages = [problem.for_checker() for problem in rules.check_tags(tags, policy, location)]
    if required:
        messages += [
            f"missing required tag {tag} (required_tags of the {policy.label})"
            for tag in rules.missing_required_tags(tags, policy, location)
        ]
    return messages


# --- retry policies -------------------------------------------------------------------------------


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


def iterate_ops(job: JobDefinition) -> Iterator[tuple[NodeHandle, OpDefinition, RetryPolicy | None]]:
    """Every op of the job with the retry policy set on the op or its invocation (not the job's)."""
    for handle in job.graph.iterate_node_handles():
        node = job.graph.get_node(handle)
        definition = node.definition
        if isinstance(definition, OpDefinition):
            yield handle, definition, node.retry_policy or definition.retry_policy


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


def _check_retry_policies(repository: RepositoryDefinition, policy: RunPolicy) -> tuple[int, list[Violation]]:
    """Hidden jobs included: the implicit asset job is where every asset's policy shows up."""
    subjects: set[str] = set()
    violations: list[Violation] = []
    reported: set[tuple[str, str]] = set()

    def report(subject: str, message: str) -> None:
        if (subject, message) not in reported:
            reported.add((subject, message))
            violations.append(Violation(subject, message))

    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if job.op_retry_policy is not None:
            for message in retry_policy_problems(job.op_retry_policy, policy):
                report(f"job '{job.name}'", f"op_retry_policy {message}")
        for handle, _definition, retry_policy in iterate_ops(job):
            subject = node_subject(job, handle)
            subjects.add(subject)
            if retry_policy is not None:
                for message in retry_policy_problems(retry_policy, policy):
                    report(subject, message)
    return len(subjects), violations
