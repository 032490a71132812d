"""Alert sensors a code location adds with one call::

    defs = Definitions(assets=..., jobs=..., sensors=[*platform_alert_sensors()])

They publish contract alerts (``alert_contract``) to the platform's alert relay:

* ``<prefix>_run_failure``: each failed run of the location's jobs that will not be retried
  (``run_failure``; the last attempt of a retried run says how many were made). At-least-once: its
  cursor passes a failure only in a tick whose publish succeeded (``run_failures``). Silent when
  the run policy's ``alerting.job_failure_alerts`` is ``dagster_plus``;
* ``<prefix>_run_success``: successful runs tagged ``alert_on_success=true``, or every successful
  run of ``success_jobs`` when given (``run_success``), with the same cursor;
* ``<prefix>_asset_checks``: each failed asset check evaluation (``asset_check_failure``, severity
  from the check), and each evaluation of a Dagster freshness check (``freshness`` with
  ``lateness_seconds``, 0 when it passed). A cursor on event storage ids publishes each evaluation
  once; the first tick starts from the newest stored evaluation, so history is not replayed;
* ``<prefix>_freshness``: assets with a ``FreshnessPolicy`` (``FreshnessPolicy.time_window`` /
  ``.cron``), evaluated every ``freshness_interval_seconds``: a ``freshness`` alert on each
  evaluation while the asset fails its policy (lateness grows; the relay alerts when it crosses
  a team's threshold) and one with lateness 0 when it is fresh again.

A publish failure raises, so the tick fails visibly in Dagster+ (the ``TICK_FAILURE`` alert policy
emails the platform team) and its cursor does not move: the next tick sends the same alerts again,
with the same identity, so nothing is lost and the relay sends each once. The run sensors are plain
sensors over the run status events for this reason: Dagster's run status sensors move their cursor
even when the tick fails.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    EventRecordsFilter,
    JobDefinition,
    RepositoryDefinition,
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

from dagster_platform import limits
from dagster_platform.alert_contract import DagsterAlert
from dagster_platform.alerts import (
    ENV_DEPLOYMENT,
    AlertEnvironment,
    asset_check_alert,
    freshness_policy_alert,
    run_failure_alert,
    run_success_alert,
)
from dagster_platform.freshness import FreshnessState, evaluate_freshness_policy
from dagster_platform.policy import PolicyError, active_policy
from dagster_platform.publish import AlertPublisher, publisher_from_environment
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
from dagster_platform.sensor_names import DEFAULT_ALERT_PREFIX, alert_sensor_name

#: Run tag that opts a job's successful runs into ``run_success`` alerts.
TAG_ALERT_ON_SUCCESS = "alert_on_success"

MonitoredJob = JobDefinition | UnresolvedAssetJobDefinition
PublisherFactory = Callable[[], AlertPublisher]


def platform_alert_sensors(
    *,
    name_prefix: str = DEFAULT_ALERT_PREFIX,
    monitored_jobs: Sequence[MonitoredJob] | None = None,
    success_alerts: bool = True,
    success_jobs: Sequence[MonitoredJob] | None = None,
    asset_check_alerts: bool = True,
    freshness_alerts: bool = True,
    asset_selection: AssetSelection | None = None,
    minimum_interval_seconds: int = 30,
    freshness_interval_seconds: int = 300,
    max_events_per_tick: int = 500,
    retry_settle_seconds: float = 30,
    retry_grace_seconds: float = 600,
    default_status: DefaultSensorStatus | None = None,
    publisher: AlertPublisher | PublisherFactory | None = None,
) -> list[SensorDefinition]:
    """The platform's alert sensors for this code location.

    ``monitored_jobs`` limits failure alerts to those jobs (default: every job in the location).
    ``asset_selection`` limits asset check and freshness alerts (default: every asset in it).
    ``default_status`` defaults to RUNNING in Dagster+ (``DAGSTER_CLOUD_DEPLOYMENT_NAME`` is set)
    and STOPPED elsewhere, so ``dagster dev`` does not tick sensors that have nowhere to publish.
    ``publisher`` replaces the relay destination from the environment (tests, custom sinks).
    ``retry_settle_seconds`` and ``retry_grace_seconds``: how long a failed run waits for Dagster's
    retry decision and for its retry to start before it is alerted anyway (``run_failures``).
    """
    publish = _publisher_factory(publisher)
    if default_status is None:
        default_status = (
            DefaultSensorStatus.RUNNING if os.environ.get(ENV_DEPLOYMENT) else DefaultSensorStatus.STOPPED
        )
    sensors = [
        _run_failure_sensor(
            alert_sensor_name("run_failure", name_prefix),
            monitored_jobs,
            minimum_interval_seconds,
            max_events_per_tick,
            retry_settle_seconds,
            retry_grace_seconds,
            default_status,
            publish,
        )
    ]
    if success_alerts:
        sensors.append(
            _run_success_sensor(
                alert_sensor_name("run_success", name_prefix),
                success_jobs,
                minimum_interval_seconds,
                max_events_per_tick,
                default_status,
                publish,
            )
        )
    if asset_check_alerts:
        sensors.append(
            _asset_check_sensor(
                alert_sensor_name("asset_checks", name_prefix),
                asset_selection,
                minimum_interval_seconds,
                max_events_per_tick,
                default_status,
                publish,
            )
        )
    if freshness_alerts:
        sensors.append(
            _freshness_sensor(
                alert_sensor_name("freshness", name_prefix),
                asset_selection,
                freshness_interval_seconds,
                default_status,
                publish,
            )
        )
    return sensors


def _publisher_factory(publisher: AlertPublisher | PublisherFactory | None) -> PublisherFactory:
    if publisher is None:
        return publisher_from_environment  # resolved per tick: a missing setting fails the tick
    if callable(publisher) and not hasattr(publisher, "publish"):
        return publisher
    return lambda: publisher  # type: ignore[return-value]


# --- runs -----------------------------------------------------------------------------------------


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


def _run_failure_sensor(
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


def _run_success_sensor(
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


# --- asset checks -----------------------------------------------------------------------------------


def _repository(context: SensorEvaluationContext, sensor_name: str) -> RepositoryDefinition:
    if context.repository_def is None:
        raise RuntimeError(f"sensor {sensor_name} needs its code location's definitions")
    return context.repository_def


def _selected_assets(repository: RepositoryDefinition, selection: AssetSelection | None) -> set[AssetKey]:
    graph = repository.asset_graph
    if selection is None:
        return {node.key for node in graph.asset_nodes}
    return set(selection.resolve(graph))


def _asset_team(repository: RepositoryDefinition, asset_key: AssetKey) -> str | None:
    graph = repository.asset_graph
    if not graph.has(asset_key):
        return None
    return graph.get(asset_key).tags.get(limits.TAG_ALERT_TEAM) or None


def _read_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}  # a cursor from an older format: start over rather than fail every tick
    return value if isinstance(value, dict) else {}


def _asset_check_sensor(
    name: str,
    selection: AssetSelection | None,
    interval: int,
    max_events: int,
    default_status: DefaultSensorStatus,
    publish: PublisherFactory,
) -> SensorDefinition:
    @sensor(
        name=name,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Publishes asset check failures and freshness check evaluations to the platform alert relay.",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        repository = _repository(context, name)
        selected = _selected_assets(repository, selection)
        monitored: set[AssetCheckKey] = {
            key for key in repository.asset_graph.asset_check_keys if key.asset_key in selected
        }
        storage = context.instance.event_log_storage
        if storage.is_run_sharded:
            raise RuntimeError(
                f"sensor {name} reads check evaluations across runs, which this instance's "
                "run-sharded event log (the local SQLite default) cannot do; use Dagster+, Postgres, or "
                "ConsolidatedSqliteEventLogStorage"
            )
        after = _read_cursor(context.cursor).get("storage_id")
        if not isinstance(after, int):
            newest = storage.get_event_records(
                EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION),
                limit=1,
                ascending=False,
            )
            start = newest[0].storage_id if newest else 0
            context.update_cursor(json.dumps({"storage_id": start}))
            return SkipReason(
                f"started after stored event {start}; later check evaluations will be published"
            )

        records = storage.get_event_records(
            EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after),
            limit=max_events,
            ascending=True,
        )
        env = AlertEnvironment.from_environment()
        runs: dict[str, DagsterRun | None] = {}
        alerts: list[DagsterAlert] = []
        for record in records:
            event = record.event_log_entry.dagster_event
            evaluation = event.event_specific_data if event is not None else None
            if (
                not isinstance(evaluation, AssetCheckEvaluation)
                or evaluation.asset_check_key not in monitored
            ):
                continue
            run_id = record.event_log_entry.run_id
            if run_id and run_id not in runs:
                runs[run_id] = context.instance.get_run_by_id(run_id)
            alert = asset_check_alert(
                evaluation,
                storage_id=record.storage_id,
                evaluated_at=record.event_log_entry.timestamp,
                run=runs.get(run_id) if run_id else None,
                asset_team=_asset_team(repository, evaluation.asset_key),
                env=env,
            )
            if alert is not None:
                alerts.append(alert)
        if alerts:
            publish().publish(alerts)
        if records:
            context.update_cursor(json.dumps({"storage_id": records[-1].storage_id}))
        return SkipReason(f"published {len(alerts)} alert(s) from {len(records)} new check evaluation(s)")

    return _sensor


# --- freshness policies -----------------------------------------------------------------------------


def _freshness_sensor(
    name: str,
    selection: AssetSelection | None,
    interval: int,
    default_status: DefaultSensorStatus,
    publish: PublisherFactory,
) -> SensorDefinition:
    @sensor(
        name=name,
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Publishes freshness evaluations of assets with a FreshnessPolicy to the platform alert relay.",
    )
    def _sensor(context: SensorEvaluationContext) -> SkipReason:
        repository = _repository(context, name)
        selected = _selected_assets(repository, selection)
        policies = {
            node.key: node.freshness_policy_or_from_metadata
            for node in repository.asset_graph.asset_nodes
            if node.key in selected and node.freshness_policy_or_from_metadata is not None
        }
        if not policies:
            return SkipReason("no monitored asset has a FreshnessPolicy")

        records = {
            record.asset_entry.asset_key: record
            for record in context.instance.get_asset_records(list(policies))
        }
        # assets that failed their policy at the last evaluation -> the episode (materialization) measured from
        was_late: dict[str, str] = _read_cursor(context.cursor).get("late", {})
        now = get_current_timestamp()
        env = AlertEnvironment.from_environment()
        alerts: list[DagsterAlert] = []
        late: dict[str, str] = {}
        for asset_key, policy in sorted(policies.items(), key=lambda item: item[0].to_user_string()):
            record = records.get(asset_key)
            last = record.asset_entry.last_materialization_record if record is not None else None
            evaluation = evaluate_freshness_policy(policy, last.timestamp if last else None, now)
            if evaluation is None or last is None:
                continue  # never materialized: Dagster reports UNKNOWN, there is no lateness to measure
            name_ = asset_key.to_user_string()
            if evaluation.state == FreshnessState.FAIL:
                late[name_] = was_late.get(name_, str(last.storage_id))
                episode = late[name_]
            elif name_ in was_late:
                episode = was_late[name_]  # the recovery closes the episode its late alerts opened
            else:
                continue
            alerts.append(
                freshness_policy_alert(
                    asset_key,
                    evaluation,
                    evaluated_at=now,
                    episode=episode,
                    asset_team=_asset_team(repository, asset_key),
                    env=env,
                )
            )
        if alerts:
            publish().publish(alerts)
        context.update_cursor(json.dumps({"late": late}, sort_keys=True))
        return SkipReason(
            f"evaluated {len(policies)} asset(s): {len(late)} late, published {len(alerts)} alert(s)"
        )

    return _sensor
