"""The alert sensors against a real Dagster instance, publishing to (moto) SQS and SNS."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    FreshnessPolicy,
    RepositoryDefinition,
    SensorDefinition,
    asset,
    asset_check,
    build_last_update_freshness_checks,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)
from dagster._core.test_utils import freeze_time, instance_for_test
from dagster._time import get_current_timestamp
from moto import mock_aws

from dagster_platform import publish
from dagster_platform.alert_contract import DagsterAlert, parse_alert
from dagster_platform.publish import (
    AlertPublishError,
    SnsAlertPublisher,
    SqsAlertPublisher,
    publisher_from_environment,
)
from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route, retries, run_tags

# --- a small code location using the sensors --------------------------------------------------------


@op
def explode() -> None:
    raise ValueError("boom: upstream file missing")


@job(tags=run_tags(alert_route("ml"), retries(0)))
def failing_job() -> None:
    explode()


@job
def failing_job_without_team() -> None:
    explode()


@op
def fine() -> None:
    return None


@job(tags={"alert_on_success": "true", "alert_team": "ml"})
def announced_job() -> None:
    fine()


@job
def quiet_job() -> None:
    fine()


@asset(tags={"alert_team": "data-eng"})
def orders() -> int:
    return 1


@asset_check(asset=orders)
def orders_have_rows() -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN, description="0 rows")


@asset_check(asset=orders)
def orders_schema_ok() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


with warnings.catch_warnings():
    # superseded by FreshnessPolicy but still supported; the sensors handle both
    warnings.filterwarnings("ignore", message=".*build_last_update_freshness_checks.*superseded")
    orders_freshness = build_last_update_freshness_checks(
        assets=[orders], lower_bound_delta=timedelta(hours=1)
    )


@asset(freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(hours=1)))
def daily_report() -> None:
    return None


orders_job = define_asset_job(
    "orders_job",
    selection=AssetSelection.assets(orders).without_checks()
    | AssetSelection.checks(orders_have_rows, orders_schema_ok),
    tags=run_tags(alert_route("platform")),
)
orders_freshness_job = define_asset_job(
    "orders_freshness_job", selection=AssetSelection.checks(*orders_freshness)
)
report_job = define_asset_job("report_job", selection=AssetSelection.assets(daily_report))

SENSORS = {sensor.name: sensor for sensor in platform_alert_sensors()}
defs = Definitions(
    assets=[orders, daily_report],
    asset_checks=[orders_have_rows, orders_schema_ok, *orders_freshness],
    jobs=[
        failing_job,
        failing_job_without_team,
        announced_job,
        quiet_job,
        orders_job,
        orders_freshness_job,
        report_job,
    ],
    sensors=list(SENSORS.values()),
)

# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repository() -> RepositoryDefinition:
    return defs.get_repository_def()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    # Dagster+ and Postgres read events across runs; of the SQLite storages only the consolidated one can
    event_log = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "event_log")},
    }
    with instance_for_test(overrides={"event_log_storage": event_log}) as dagster_instance:
        yield dagster_instance


@pytest.fixture
def queue_url(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    publish._cached_publisher.cache_clear()  # a client made under another mock must not be reused
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="dagster-alerts")["QueueUrl"]
        monkeypatch.setenv("DAGSTER_PLATFORM_ALERT_QUEUE_URL", url)
        monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
        monkeypatch.setenv("DAGSTER_CLOUD_LOCATION_NAME", "analytics")
        monkeypatch.setenv("DAGSTER_PLATFORM_UI_URL", "https://acme.dagster.cloud/")
        yield url
    publish._cached_publisher.cache_clear()


def received(url: str) -> list[tuple[DagsterAlert, dict[str, Any]]]:
    """Every message on the queue, parsed with the relay's own contract parser."""
    sqs = boto3.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            return messages
        for message in batch:
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            messages.append((parse_alert(json.loads(message["Body"])), attributes))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def tick(
    sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, cursor: str | None
):
    with build_sensor_context(instance=instance, repository_def=repository, cursor=cursor) as context:
        return sensor.evaluate_tick(context)


# --- runs -------------------------------------------------------------------------------------------


def started(sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition) -> str:
    """The cursor of a sensor's first tick (it starts after the newest stored event)."""
    first = tick(sensor, instance, repository, cursor=None)
    assert first.skip_message.startswith("started after")
    return first.cursor


def test_run_failure_alert_carries_the_run_and_routes_by_its_team(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition
) -> None:
    sensor = SENSORS["platform_alerts_run_failure"]
    cursor = started(sensor, instance, repository)
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success

    published = tick(sensor, instance, repository, cursor)

    [(alert, attributes)] = received(queue_url)
    assert published.skip_message.startswith("published 1 alert(s) from 1 run event(s)")
    run_id = result.run_id
    assert alert.kind == "run_failure"
    assert alert.severity == "error"
    assert alert.title == "Run of failing_job failed"
    assert alert.tags["alert_team"] == "ml"
    assert alert.team == "ml"
    assert (alert.deployment, alert.location, alert.job, alert.run_id) == (
        "prod",
        "analytics",
        "failing_job",
        run_id,
    )
    assert alert.dedup_key == f"run_failure:{run_id}"
    assert [(link.label, link.url) for link in alert.links] == [
        ("Run", f"https://acme.dagster.cloud/prod/runs/{run_id}")
    ]
    assert "step explode: ValueError: boom: upstream file missing" in alert.details
    assert attributes == {"kind": "run_failure", "severity": "error", "team": "ml"}
    # published once: the next tick has nothing new
    assert tick(sensor, instance, repository, published.cursor).skip_message.startswith("published 0 alert(s)")
    assert received(queue_url) == []


def test_a_run_without_a_team_tag_goes_to_the_location_team(
    instance: DagsterInstance,
    queue_url: str,
    repository: RepositoryDefinition,
    policy_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_PLATFORM_RUN_POLICY", str(policy_path))
    sensor = SENSORS["platform_alerts_run_failure"]
    cursor = started(sensor, instance, repository)
    failing_job_without_team.execute_in_process(instance=instance, raise_on_error=False)

    # the policy's deployment retries runs (max_retries 2) but this instance records no retry
    # decision: the sensor looks again for the settle time (30 s), then alerts
    waiting = tick(sensor, instance, repository, cursor)
    assert received(queue_url) == []
    with freeze_time(get_current_timestamp() + 31):
        tick(sensor, instance, repository, waiting.cursor)

    [(alert, _)] = received(queue_url)
    assert "alert_team" not in alert.tags
    assert alert.team == "data-eng"  # locations.analytics.alert_team in the policy

    # the container context's own variables, without a policy file (same cursor: the same failure)
    monkeypatch.delenv("DAGSTER_PLATFORM_RUN_POLICY")
    monkeypatch.delenv("DAGSTER_CLOUD_LOCATION_NAME")
    monkeypatch.setenv("DAGSTER_PLATFORM_LOCATION", "forecasting")
    monkeypatch.setenv("DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM", "ml")
    tick(sensor, instance, repository, cursor)  # no policy: no deployment retries, alerted at once

    [(alert, _)] = received(queue_url)
    assert (alert.location, alert.team) == ("forecasting", "ml")


def test_success_alerts_only_for_opted_in_runs(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition
) -> None:
    sensor = SENSORS["platform_alerts_run_success"]
    cursor = started(sensor, instance, repository)
    for success_job in (announced_job, quiet_job):
        success_job.execute_in_process(instance=instance)

    published = tick(sensor, instance, repository, cursor)

    [(alert, _)] = received(queue_url)
    assert published.skip_message.startswith("published 1 alert(s) from 2 run event(s)")
    assert (alert.kind, alert.severity, alert.job, alert.team) == (
        "run_success",
        "info",
        "announced_job",
        "ml",
    )


def test_a_publish_failure_fails_the_tick(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DAGSTER_PLATFORM_ALERT_QUEUE_URL", queue_url.replace("dagster-alerts", "deleted-queue")
    )
    sensor = SENSORS["platform_alerts_run_failure"]
    cursor = started(sensor, instance, repository)
    failing_job.execute_in_process(instance=instance, raise_on_error=False)

    with pytest.raises(Exception, match=r"cannot send alerts to SQS queue .*deleted-queue"):
        tick(sensor, instance, repository, cursor)


# --- asset checks and freshness ---------------------------------------------------------------------


def test_failed_checks_are_published_once_each(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition
) -> None:
    sensor = SENSORS["platform_alerts_asset_checks"]
    first = tick(sensor, instance, repository, cursor=None)  # starts after the newest stored evaluation
    assert first.skip_message.startswith("started after stored event")

    result = repository.get_job("orders_job").execute_in_process(instance=instance)
    assert result.success  # a failed non-blocking check does not fail the run
    second = tick(sensor, instance, repository, cursor=first.cursor)
    third = tick(sensor, instance, repository, cursor=second.cursor)

    [(alert, attributes)] = received(queue_url)
    assert second.skip_message == "published 1 alert(s) from 2 new check evaluation(s)"
    assert third.skip_message == "published 0 alert(s) from 0 new check evaluation(s)"
    assert alert.kind == "asset_check_failure"
    assert alert.severity == "warning"  # AssetCheckSeverity.WARN
    assert alert.title == "Asset check orders_have_rows on orders failed"
    assert alert.details == "0 rows"
    assert alert.asset_key == "orders"
    assert alert.team == "data-eng"  # the asset's alert_team wins over the run's
    assert alert.tags["alert_team"] == "platform"
    assert (alert.job, alert.run_id) == ("orders_job", result.run_id)
    assert alert.dedup_key.startswith("asset_check_failure:orders:orders_have_rows:")
    assert [link.url for link in alert.links] == [
        f"https://acme.dagster.cloud/prod/runs/{result.run_id}",
        "https://acme.dagster.cloud/prod/assets/orders",
    ]
    assert attributes["team"] == "data-eng"


def test_freshness_check_evaluations_report_lateness(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition
) -> None:
    sensor = SENSORS["platform_alerts_asset_checks"]
    cursor = tick(sensor, instance, repository, cursor=None).cursor
    materialized = repository.get_job("orders_job").execute_in_process(instance=instance)
    updated_at = instance.get_latest_materialization_event(orders.key).timestamp

    late_evaluation_time = updated_at + 3 * 3600
    with freeze_time(late_evaluation_time):
        late = repository.get_job("orders_freshness_job").execute_in_process(instance=instance)
    fresh = repository.get_job("orders_freshness_job").execute_in_process(instance=instance)
    assert materialized.success and late.success and fresh.success
    tick(sensor, instance, repository, cursor=cursor)

    freshness = [alert for alert, _ in received(queue_url) if alert.kind == "freshness"]
    assert [(a.severity, a.title) for a in freshness] == [
        ("warning", "orders is late by 120.0 min (check freshness_check)"),
        ("info", "orders is fresh (check freshness_check)"),
    ]
    # one hour allowed, evaluated three hours after the update: two hours late
    assert freshness[0].lateness_seconds == pytest.approx(2 * 3600, abs=1)
    assert freshness[1].lateness_seconds == 0.0
    assert {a.asset_key for a in freshness} == {"orders"}
    assert {a.team for a in freshness} == {"data-eng"}


def test_freshness_policy_evaluations_while_late_and_on_recovery(
    instance: DagsterInstance, queue_url: str, repository: RepositoryDefinition
) -> None:
    sensor = SENSORS["platform_alerts_freshness"]
    never = tick(sensor, instance, repository, cursor=None)
    assert never.skip_message == "evaluated 1 asset(s): 0 late, published 0 alert(s)"

    repository.get_job("report_job").execute_in_process(instance=instance)
    updated_at = instance.get_latest_materialization_event(daily_report.key).timestamp
    fresh = tick(sensor, instance, repository, cursor=never.cursor)
    assert received(queue_url) == []  # fresh and never late: nothing to say

    with freeze_time(updated_at + 90 * 60):
        late = tick(sensor, instance, repository, cursor=fresh.cursor)
    with freeze_time(updated_at + 100 * 60):
        still_late = tick(sensor, instance, repository, cursor=late.cursor)
    repository.get_job("report_job").execute_in_process(instance=instance)
    recovered = tick(sensor, instance, repository, cursor=still_late.cursor)
    quiet = tick(sensor, instance, repository, cursor=recovered.cursor)

    alerts = [alert for alert, _ in received(queue_url)]
    assert [(a.severity, round(a.lateness_seconds or 0)) for a in alerts] == [
        ("error", 30 * 60),
        ("error", 40 * 60),
        ("info", 0),
    ]
    assert {a.kind for a in alerts} == {"freshness"}
    assert {a.asset_key for a in alerts} == {"daily_report"}
    assert len({a.dedup_key for a in alerts}) == 1  # the recovery closes the episode the late alerts opened
    assert alerts[0].title == "daily_report is late by 30.0 min (FreshnessPolicy)"
    assert alerts[2].title == "daily_report is fresh (FreshnessPolicy)"
    assert quiet.skip_message == "evaluated 1 asset(s): 0 late, published 0 alert(s)"


# --- publishers -------------------------------------------------------------------------------------


def _alert(kind: str = "run_failure", dedup_key: str = "run_failure:1") -> DagsterAlert:
    return DagsterAlert(
        kind=kind,
        severity="error",
        title="t",
        occurred_at="2026-11-24T06:40:00+00:00",
        dedup_key=dedup_key,
        tags={"alert_team": "ml"},
    )


def test_sqs_publisher_batches_and_supports_fifo_queues(aws_environment: None) -> None:
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="alerts.fifo", Attributes={"FifoQueue": "true"})[
            "QueueUrl"
        ]
        SqsAlertPublisher(url).publish([_alert(dedup_key=f"run_failure:{n}") for n in range(23)])

        alerts = received(url)
    assert sorted(alert.dedup_key for alert, _ in alerts) == sorted(f"run_failure:{n}" for n in range(23))


def test_sns_publisher_delivers_contract_messages(aws_environment: None) -> None:
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="dagster-alerts")["TopicArn"]
        url = sqs.create_queue(QueueName="relay")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )

        publisher = publisher_from_environment({"DAGSTER_PLATFORM_ALERT_TOPIC_ARN": topic_arn})
        assert isinstance(publisher, SnsAlertPublisher)
        publisher.publish([_alert()])

        [(alert, _)] = received(url)
    assert alert == parse_alert(json.loads(_alert().to_json()))


def test_the_queue_is_preferred_and_a_destination_is_required() -> None:
    both = publisher_from_environment(
        {
            "DAGSTER_PLATFORM_ALERT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "DAGSTER_PLATFORM_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t",
        }
    )
    assert isinstance(both, SqsAlertPublisher)
    with pytest.raises(AlertPublishError, match="no alert destination: set DAGSTER_PLATFORM_ALERT_QUEUE_URL"):
        publisher_from_environment({})


def test_a_contract_violation_is_never_sent() -> None:
    class Unreachable:
        def send_message_batch(self, **_: Any) -> None:
            raise AssertionError("must not be called")

    bad = DagsterAlert(
        kind="freshness", severity="info", title="x", occurred_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    )
    with pytest.raises(ValueError, match="needs 'lateness_seconds'"):
        SqsAlertPublisher("https://sqs.eu-west-1.amazonaws.com/1/q", client=Unreachable()).publish([bad])  # type: ignore[arg-type]


def test_sensors_run_by_default_only_in_dagster_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [
        "platform_alerts_run_failure",
        "platform_alerts_run_success",
        "platform_alerts_asset_checks",
        "platform_alerts_freshness",
    ]
    local = platform_alert_sensors()
    assert [sensor.name for sensor in local] == names
    assert {sensor.default_status for sensor in local} == {DefaultSensorStatus.STOPPED}

    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
    in_dagster_plus = platform_alert_sensors(
        name_prefix="alerts", success_alerts=False, freshness_alerts=False
    )
    assert [sensor.name for sensor in in_dagster_plus] == ["alerts_run_failure", "alerts_asset_checks"]
    assert {sensor.default_status for sensor in in_dagster_plus} == {DefaultSensorStatus.RUNNING}


def test_run_sharded_storage_fails_the_check_sensor_with_a_reason(repository: RepositoryDefinition) -> None:
    with (
        instance_for_test() as sharded,
        pytest.raises(Exception, match="run-sharded event log"),
    ):  # SQLite default
        tick(SENSORS["platform_alerts_asset_checks"], sharded, repository, cursor=None)


def test_a_custom_publisher_replaces_the_relay(
    instance: DagsterInstance, repository: RepositoryDefinition
) -> None:
    class Collector:
        def __init__(self) -> None:
            self.alerts: list[DagsterAlert] = []

        def publish(self, alerts: list[DagsterAlert]) -> None:
            self.alerts.extend(alerts)

    collector = Collector()
    [failure_sensor] = platform_alert_sensors(
        success_alerts=False, asset_check_alerts=False, freshness_alerts=False, publisher=collector
    )
    cursor = started(failure_sensor, instance, repository)
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    tick(failure_sensor, instance, repository, cursor)

    assert [(alert.kind, alert.run_id, alert.links) for alert in collector.alerts] == [
        ("run_failure", result.run_id, ())  # no Dagster+ URL in this environment: no links
    ]
