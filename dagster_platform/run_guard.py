"""The run policy at launch time: what no static reading of a code location can see.

Tags set when a run is launched from the UI or a backfill, the ``RunRequest`` tags a sensor
computes at tick time, and ``RetryRequested`` with a ``max_retries`` computed at run time reach the
run's record only. In Dagster+ Hybrid the run queue is Dagster-managed (no custom run coordinator)
and the agent runs Dagster's stock ECS launcher, so the check is a sensor in the code location:

* every tick it reads the location's QUEUED, NOT_STARTED, STARTING and STARTED runs from the
  instance and checks their tags with the same rules as the CI checker (``rules.check_tags``:
  sizes, ECS override tags, retries, priority, team);
* a STARTED run (or one finished since the last tick) whose steps were retried more times than
  ``retries.max_op_retries`` breaks the policy too;
* a violating run is tagged ``dagster-platform/run_policy=refused`` (with the reasons), then
  stopped the way the UI's "Terminate" does it (``run_coordinator.cancel_run``: a queued run is
  canceled before the agent launches its task; a started run's task is stopped by the launcher);
* every refused run is alerted to its owning team through the platform's relay
  (``publish.publisher_from_environment``). Alerts are at least once: a run is remembered in the
  cursor only after its alert was published; a publish failure fails the tick, and the next tick
  finds the tagged run again.

What it cannot do: stop a run the queue launches between two ticks before it starts (it is then
terminated once seen, usually seconds into its task), or stop a run whose launcher refuses
termination (the alert then says so).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from dagster_platform import limits, rules
from dagster_platform.alert_contract import DagsterAlert
from dagster_platform.alerts import AlertEnvironment, run_alert
from dagster_platform.policy import RunPolicy, active_policy
from dagster_platform.publish import AlertPublisher, publisher_from_environment

TAG_RUN_POLICY = "dagster-platform/run_policy"
TAG_RUN_POLICY_REASONS = "dagster-platform/run_policy_reasons"
#: "true" when the guard's cancel request succeeded, "false" when the launcher refused it.
TAG_RUN_POLICY_STOPPED = "dagster-platform/run_policy_stopped"
REFUSED = "refused"

ACTIVE_STATUSES = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
)
_MAX_RUNS_PER_TICK = 500
_REMEMBERED_RUNS = 1000
#: Dagster tag values are limited in the UI; reasons are kept readable and bounded.
_MAX_REASONS_TAG = 4000

PublisherFactory = Callable[[], AlertPublisher]


@dataclass(frozen=True)
class GuardOutcome:
    run_id: str
    job: str
    reasons: tuple[str, ...]
    stopped: bool
    status_before: str


def run_policy_problems(run: DagsterRun, policy: RunPolicy, instance: DagsterInstance | None = None) -> list[str]:
    """Why a run breaks the policy: its tags, and step retries beyond ``retries.max_op_retries``."""
    location = policy.locations.get(_run_location(run) or "") or _env_location(policy)
    problems = [p.for_checker() for p in rules.check_tags(run.tags, policy, location) if p.is_error]
    if instance is not None and run.status not in (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED):
        problems.extend(step_retry_problems(instance, run.run_id, policy))
    return problems


def step_retry_problems(instance: DagsterInstance, run_id: str, policy: RunPolicy) -> list[str]:
    """Steps retried more often than the cap (``RetryRequested`` and ``RetryPolicy`` alike)."""
    cap = policy.retries.max_op_retries
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY).records
    counts = Counter(record.event_log_entry.step_key for record in records)
    return [
        f"step {step!r} retried {count} times: above the {policy.label} cap retries.max_op_retries={cap}"
        for step, count in sorted(counts.items())
        if count > cap
    ]


def _run_location(run: DagsterRun) -> str | None:
    origin = run.remote_job_origin
    return origin.location_name if origin is not None else None


def _env_location(policy: RunPolicy):
    name = os.environ.get("DAGSTER_CLOUD_LOCATION_NAME") or os.environ.get("DAGSTER_PLATFORM_LOCATION")
    return policy.locations.get(name) if name else None


def _is_ours(run: DagsterRun, context: SensorEvaluationContext, job_names: frozenset[str]) -> bool:
    if run.job_name not in job_names:
        return False
    sensor_location = context.code_location_origin.location_name if context.code_location_origin else None
    run_location = _run_location(run)
    return sensor_location is None or run_location is None or run_location == sensor_location


def stop_run(instance: DagsterInstance, run: DagsterRun, reasons: Sequence[str]) -> bool:
    """Tag the run as refused, then cancel it as the UI does. True if the run is stopped or stopping."""
    instance.add_run_tags(run.run_id, _refused_tags(reasons))
    instance.report_engine_event(f"Refused by the platform's run policy: {'; '.join(reasons)}", run)
    try:
        stopped = bool(instance.run_coordinator.cancel_run(run.run_id))
    except Exception as exc:  # the launcher's own error; the alert says the run could not be stopped
        instance.report_engine_event(f"The run policy guard could not stop this run: {exc}", run)
        stopped = False
    instance.add_run_tags(run.run_id, {TAG_RUN_POLICY_STOPPED: "true" if stopped else "false"})
    return stopped


def refused_alert(run: DagsterRun, reasons: Sequence[str], *, env: AlertEnvironment, policy: RunPolicy) -> DagsterAlert:
    """The alert for a refused run, worded by where the run is now (its record, re-read)."""
    team = run.tags.get(limits.TAG_ALERT_TEAM)
    if team is None or rules.check_alert_team(team, policy):
        team = env.for_run(run).location_team  # an unknown team in the tags cannot receive the alert
    stopped = run.tags.get(TAG_RUN_POLICY_STOPPED)
    if stopped == "true" or (stopped is None and run.status == DagsterRunStatus.CANCELED):
        outcome, action = "refused by the run policy", "The platform's run policy guard stopped the run."
    elif run.is_finished and stopped is None:
        outcome = "broke the run policy"
        action = f"The run had already ended ({run.status.value}) when the guard saw it; fix its job before the next run."
    else:
        outcome = "breaks the run policy and could not be stopped"
        action = "Terminate it in the Dagster+ UI: the run launcher did not stop it."
    return run_alert(
        run,
        "run_failure",
        "error",
        outcome,
        occurred_at=datetime.now(UTC).timestamp(),
        details="\n".join([action, *reasons]),
        env=env,
        team=team,
        dedup_key=f"run_policy:{run.run_id}",
    )


def _refused_tags(reasons: Sequence[str]) -> dict[str, str]:
    """The run's record carries the verdict, so an alert lost to a failed tick is sent later."""
    kept = list(reasons)
    while len(json.dumps(kept)) > _MAX_REASONS_TAG and len(kept) > 1:
        kept.pop()
    return {TAG_RUN_POLICY: REFUSED, TAG_RUN_POLICY_REASONS: json.dumps(kept)}


def _reasons_of(run: DagsterRun) -> list[str]:
    try:
        reasons = json.loads(run.tags.get(TAG_RUN_POLICY_REASONS, "[]"))
    except json.JSONDecodeError:
        return [run.tags.get(TAG_RUN_POLICY_REASONS, "")]
    return [str(reason) for reason in reasons] if isinstance(reasons, list) else [str(reasons)]


def _read_cursor(cursor: str | None) -> dict:
    try:
        data = json.loads(cursor) if cursor else {}
    except json.JSONDecodeError:
        data = {}
    return {"alerted": list(data.get("alerted", [])), "since": data.get("since")}


def run_policy_guard_sensor(
    *,
    name: str = "platform_run_policy_guard",
    minimum_interval_seconds: int = 30,
    policy: RunPolicy | None = None,
    publisher: AlertPublisher | PublisherFactory | None = None,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """The guard sensor; add it to the location's ``Definitions(sensors=[...])``.

    ``policy`` defaults to the active policy (``DAGSTER_PLATFORM_RUN_POLICY_JSON`` in the
    platform's containers); ``publisher`` to the relay from the environment. ``default_status``:
    RUNNING in Dagster+ (``DAGSTER_CLOUD_DEPLOYMENT_NAME`` set), STOPPED elsewhere.
    """
    if default_status is None:
        default_status = (
            DefaultSensorStatus.RUNNING
            if os.environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME")
            else DefaultSensorStatus.STOPPED
        )
    if publisher is None:
        publish: PublisherFactory = publisher_from_environment
    elif callable(publisher) and not hasattr(publisher, "publish"):
        publish = publisher  # type: ignore[assignment]
    else:
        publish = lambda: publisher  # type: ignore[assignment,return-value]  # noqa: E731

    @sensor(name=name, minimum_interval_seconds=minimum_interval_seconds, default_status=default_status)
    def _guard(context: SensorEvaluationContext) -> SkipReason:
        active = policy or active_policy()
        if context.repository_def is None:
            raise RuntimeError(f"sensor {name} needs its code location's definitions")
        job_names = frozenset(job.name for job in context.repository_def.get_all_jobs())
        cursor = _read_cursor(context.cursor)
        now = datetime.now(UTC)
        outcomes = guard_runs(context.instance, active, lambda run: _is_ours(run, context, job_names), since=cursor["since"])
        alerted = set(cursor["alerted"])
        pending = [run for run in refused_runs(context.instance) if run.run_id not in alerted and run.job_name in job_names]
        if pending:
            env = AlertEnvironment.from_environment()
            alerts = [
                refused_alert(run, _reasons_of(run), env=env, policy=active)
                for run in pending
            ]
            publish().publish(alerts)  # raises on failure: the tick fails, the cursor stays
        remembered = [*cursor["alerted"], *(run.run_id for run in pending)][-_REMEMBERED_RUNS:]
        context.update_cursor(json.dumps({"alerted": remembered, "since": (now - timedelta(seconds=5)).timestamp()}))
        return SkipReason(
            f"{len(outcomes)} run(s) refused, {len(pending)} alert(s) published"
            if outcomes or pending
            else "every active run of this location follows the run policy"
        )

    return _guard


def guard_runs(
    instance: DagsterInstance,
    policy: RunPolicy,
    is_ours: Callable[[DagsterRun], bool],
    *,
    since: float | None = None,
) -> list[GuardOutcome]:
    """Check the active runs (and runs finished since ``since`` for step retries); stop violators."""
    outcomes = []
    runs: dict[str, DagsterRun] = {
        run.run_id: run for run in instance.get_runs(RunsFilter(statuses=list(ACTIVE_STATUSES)), limit=_MAX_RUNS_PER_TICK)
    }
    if since is not None:
        finished = instance.get_runs(
            RunsFilter(updated_after=datetime.fromtimestamp(since, UTC)), limit=_MAX_RUNS_PER_TICK
        )
        runs.update({run.run_id: run for run in finished if run.is_finished})
    for run in runs.values():
        if run.tags.get(TAG_RUN_POLICY) == REFUSED or not is_ours(run):
            continue
        reasons = run_policy_problems(run, policy, instance)
        if not reasons:
            continue
        status_before = run.status.value
        if run.is_finished:
            instance.add_run_tags(run.run_id, _refused_tags(reasons))
            stopped = False
        else:
            stopped = stop_run(instance, run, reasons)
        outcomes.append(GuardOutcome(run.run_id, run.job_name, tuple(reasons), stopped, status_before))
    return outcomes


def refused_runs(instance: DagsterInstance, limit: int = _MAX_RUNS_PER_TICK) -> Iterable[DagsterRun]:
    return instance.get_runs(RunsFilter(tags={TAG_RUN_POLICY: REFUSED}), limit=limit)
