"""The run sensors of ``platform_alert_sensors``: plain sensors over Dagster's run status events.

Dagster's run status sensors move their cursor even when the tick fails, so an alert that could
not be published is lost. These sensors keep their own cursor (``run_failures.EventCursor``) and
move it only in a tick whose publish succeeded; which failed runs to alert on (retries) is decided
by ``run_failures.decide``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    JobDefinition,
    RunRecord,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.event_api import RunStatusChangeRecordsFilter
from dagster._time import get_current_timestamp

from dagster_platform.alert_contract import DagsterAlert
from dagster_platform.alerts import AlertEnvironment, run_failure_alert, run_success_alert
from dagster_platform.policy import PolicyError, active_policy
from dagster_platform.publish import AlertPublisher
from dagster_platform.run_failures import (
    TAG_MAX_RETRIES,
    TAG_PARENT_RUN_ID,
    TAG_WILL_RETRY,
    Attempts,
    Decision,
    EventCursor,
    Verdict,
    cursor_summary,
    decide,
)

#: Run tag that opts a job's successful runs into ``run_success`` alerts.
TAG_ALERT_ON_SUCCESS = "alert_on_success"

MonitoredJob = JobDefinition | UnresolvedAssetJobDefinition
PublisherFactory = Callable[[], AlertPublisher]


def _innermost_message(event_specific_data: Any, fallback: str) -> str:
    error = getattr(event_specific_data, "error", None)
    # Dagster wraps the user's exception in DagsterExecutionStepExecutionError: report the cause
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else fallback


def _failure_reasons(instance: DagsterInstance, run_id: str) -> list[str]:
    """The run's failure message, then each failed step with its (innermost) error."""
    reasons: list[str] = []
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.RUN_FAILURE, DagsterEventType.STEP_FAILURE}):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.RUN_FAILURE:
            reasons.insert(0, event.message or "")
        else:
            reasons.append(f"step {event.step_key}: {_innermost_message(event.event_specific_data, event.message or '')}")
    return reasons


def _location_of(run: DagsterRun) -> tuple[str | None, str | None]:
    origin = run.remote_job_origin
    if origin is None:
        return None, None
    return origin.repository_origin.code_location_origin.location_name, origin.repository_origin.repository_name


def _is_ours(run: DagsterRun, context: SensorEvaluationContext, job_names: frozenset[str] | None) -> bool:
    """A run of this code location (like Dagster's run status sensors), of a monitored job."""
    if job_names is not None and run.job_name not in job_names:
        return False
    sensor_location = context.code_location_origin.location_name if context.code_location_origin else None
    if sensor_location is None:
        return True  # evaluated outside a code location (tests, build_sensor_context)
    run_location, run_repository = _location_of(run)
    return run_location == sensor_location and run_repository == context.repository_name


def _job_failure_path() -> str:
    try:
        return active_policy().job_failure_alerts
    except PolicyError:
        return "relay"  # an unreadable policy must not silence failures; the tag helpers report it


def _newest_storage_id(instance: DagsterInstance, event_type: DagsterEventType) -> int:
    newest = instance.fetch_run_status_changes(event_type, limit=1, ascending=False).records
    return newest[0].storage_id if newest else -1


def _retries_possible(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Whether Dagster may still decide to retry this run: the instance retries runs, the
    deployment's run_retries allow it (run policy; Dagster+ code servers may not see the setting),
    or the run asks for retries itself."""
    if instance.run_retries_enabled or run.tags.get(TAG_MAX_RETRIES, "0").strip() not in ("", "0"):
        return True
    try:
        run_retries = active_policy().deployment_settings.run_retries
    except PolicyError:
        return True
    return run_retries is not None and run_retries.max_retries > 0


Judge = Callable[[DagsterInstance, DagsterRun, float, float], Verdict | None]
Build = Callable[[DagsterInstance, RunRecord, Verdict, float], DagsterAlert]


def _publish_run_events(
    context: SensorEvaluationContext,
    *,
    event_type: DagsterEventType,
    max_events: int,
    job_names: frozenset[str] | None,
    judge: Judge,
    build: Build,
    publish: PublisherFactory,
) -> SkipReason:
    """One tick over the run status events after the cursor, plus the runs still waiting: alert,
    drop or keep waiting (``judge``, None drops), publish, and only then move the cursor."""
    instance = context.instance
    cursor = EventCursor.parse(context.cursor)
    if cursor.after is None:
        start = _newest_storage_id(instance, event_type)
        context.update_cursor(EventCursor(after=start).dump())
        return SkipReason(f"started after run status event {start}; later ones will be published")

    events = instance.fetch_run_status_changes(
        RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=cursor.after),
        limit=max_events,
        ascending=True,
    ).records
    now = get_current_timestamp()
    candidates = dict(cursor.waiting)
    for event in events:
        candidates.setdefault(event.event_log_entry.run_id, now)
    records = (
        {r.dagster_run.run_id: r for r in instance.get_run_records(RunsFilter(run_ids=list(candidates)))}
        if candidates
        else {}
    )
    alerts: list[DagsterAlert] = []
    waiting: dict[str, float] = {}
    for run_id, first_seen in candidates.items():
        record = records.get(run_id)
        if record is None or not _is_ours(record.dagster_run, context, job_names):
            continue  # deleted, or another location's run
        verdict = judge(instance, record.dagster_run, first_seen, now)
        if verdict is None or verdict.decision == Decision.RETRIED:
            continue
        if verdict.decision == Decision.WAIT:
            waiting[run_id] = first_seen
        else:
            alerts.append(build(instance, record, verdict, now))
    if alerts:
        publish().publish(alerts)  # raises: the tick fails and the cursor stays where it was
    after = events[-1].storage_id if events else cursor.after
    context.update_cursor(EventCursor(after=after, waiting=waiting).dump())
    return SkipReason(cursor_summary(len(alerts), len(events), len(waiting)))


def run_failure_sensor_definition(
    name: str,
    monitored_jobs: Sequence[MonitoredJob] | None,
    interval: int,
    max_events: int,
    settle_seconds: float,
    retry_grace_seconds: float,
    default_status: DefaultSensorStatus,
    publish: PublisherFactory,
) -> SensorDefinition:
    job_names = frozenset(job.name for job in monitored_jobs) if monitored_jobs else None

    def judge(instance: DagsterInstance, run: DagsterRun, first_seen: float, now: float) -> Verdict:
        will_retry = run.tags.get(TAG_WILL_RETRY, "").strip().lower() == "true"
        return decide(
            run,
            first_seen=first_seen,
            now=now,
            has_retry_run=will_retry
            and bool(instance.get_run_ids(RunsFilter(tags={TAG_PARENT_RUN_ID: run.run_id}), limit=1)),
            retries_enabled=_retries_possible(instance, run),
            settle_seconds=settle_seconds,
            retry_grace_seconds=retry_grace_seconds,
        )

    def build(instance: DagsterInstance, record: RunRecord, verdict: Verdict, now: float) -> DagsterAlert:
        attempts = Attempts.of(record.dagster_run)
        return run_failure_alert(
            record.dagster_run,
            occurred_at=record.end_time or now,
            reasons=_failure_reasons(instance, record.dagster_run.run_id),
            env=AlertEnvironment.from_environment(),
            attempts=attempts.number,
            preface=(attempts.describe(), verdict.note),
        )

    @sensor(
        name=name,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description=(
            "Publishes a run_failure alert to the platform alert relay for each failed run that will not be "
            "retried; its cursor moves only after the relay's queue accepted the alerts."
        ),
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        if _job_failure_path() != "relay":
            # Dagster+ JOB_FAILURE policies alert; keep the cursor current so a switch back does not replay
            newest = _newest_storage_id(context.instance, DagsterEventType.RUN_FAILURE)
            context.update_cursor(EventCursor(after=newest).dump())
            return SkipReason("job failures alert through Dagster+ policies (alerting.job_failure_alerts: dagster_plus)")
        return _publish_run_events(
            context,
            event_type=DagsterEventType.RUN_FAILURE,
            max_events=max_events,
            job_names=job_names,
            judge=judge,
            build=build,
            publish=publish,
        )

    return _sensor


def wants_success_alert(run: DagsterRun, explicit_jobs: bool) -> bool:
    return explicit_jobs or run.tags.get(TAG_ALERT_ON_SUCCESS, "").strip().lower() == "true"


def run_success_sensor_definition(
    name: str,
    success_jobs: Sequence[MonitoredJob] | None,
    interval: int,
    max_events: int,
    default_status: DefaultSensorStatus,
    publish: PublisherFactory,
) -> SensorDefinition:
    explicit_jobs = bool(success_jobs)
    job_names = frozenset(job.name for job in success_jobs) if success_jobs else None

    def judge(instance: DagsterInstance, run: DagsterRun, first_seen: float, now: float) -> Verdict | None:
        return Verdict(Decision.ALERT) if wants_success_alert(run, explicit_jobs) else None

    def build(instance: DagsterInstance, record: RunRecord, verdict: Verdict, now: float) -> DagsterAlert:
        return run_success_alert(
            record.dagster_run, occurred_at=record.end_time or now, env=AlertEnvironment.from_environment()
        )

    @sensor(
        name=name,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description=(
            "Publishes a run_success alert for successful runs of the listed jobs"
            if explicit_jobs
            else f"Publishes a run_success alert for successful runs tagged {TAG_ALERT_ON_SUCCESS}=true"
        ),
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        return _publish_run_events(
            context,
            event_type=DagsterEventType.RUN_SUCCESS,
            max_events=max_events,
            job_names=job_names,
            judge=judge,
            build=build,
            publish=publish,
        )

    return _sensor
