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
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterRun,
    DefaultSensorStatus,
    EventRecordsFilter,
    RepositoryDefinition,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from dagster._time import get_current_timestamp

from dagster_platform import limits
from dagster_platform.alert_contract import DagsterAlert
from dagster_platform.alerts import (
    ENV_DEPLOYMENT,
    AlertEnvironment,
    asset_check_alert,
    freshness_policy_alert,
)
from dagster_platform.freshness import FreshnessState, evaluate_freshness_policy
from dagster_platform.publish import AlertPublisher, publisher_from_environment
from dagster_platform.run_sensors import (
    TAG_ALERT_ON_SUCCESS,  # noqa: F401 (re-exported: code locations tag runs with it)
    MonitoredJob,
    PublisherFactory,
    run_failure_sensor_definition,
    run_success_sensor_definition,
)
from dagster_platform.sensor_names import DEFAULT_ALERT_PREFIX, alert_sensor_name



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
        run_failure_sensor_definition(
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
            run_success_sensor_definition(
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
