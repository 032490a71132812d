"""The run-failure sensor's cursor and retry rules on a real Dagster instance (in-process runs, the
sensor ticked as the daemon does); ``test_alert_daemon.py`` proves the same with ``dagster-daemon``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RepositoryDefinition,
    SensorDefinition,
    build_sensor_context,
    job,
    op,
)
from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor
from dagster._core.test_utils import freeze_time, instance_for_test
from dagster._time import get_current_timestamp

from dagster_platform.alert_contract import DagsterAlert
from dagster_platform.publish import AlertPublishError
from dagster_platform.run_failures import Decision, EventCursor, decide
from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route, retries, run_tags


@op
def load_orders() -> None:
    raise RuntimeError("warehouse refused the connection")


@job(tags=run_tags(alert_route("ml"), retries(2)))
def flaky_model() -> None:
    load_orders()


@job(tags=run_tags(alert_route("data-eng"), retries(0)))
def nightly_orders() -> None:
    load_orders()


class Queue:
    """A publisher that can be down: while down it raises like the SQS publisher does."""

    def __init__(self) -> None:
        self.up = True
        self.alerts: list[DagsterAlert] = []

    def publish(self, alerts: list[DagsterAlert]) -> None:
        if not self.up:
            raise AlertPublishError("cannot send alerts to SQS queue https://sqs.eu-west-1.amazonaws.com/1/q: down")
        self.alerts.extend(alerts)

    def take(self) -> list[DagsterAlert]:
        taken, self.alerts = self.alerts, []
        return taken


@pytest.fixture
def queue() -> Queue:
    return Queue()


@pytest.fixture
def failure_sensor(queue: Queue) -> SensorDefinition:
    [sensor] = platform_alert_sensors(
        success_alerts=False, asset_check_alerts=False, freshness_alerts=False, publisher=queue
    )
    return sensor


@pytest.fixture
def repository(failure_sensor: SensorDefinition) -> RepositoryDefinition:
    return Definitions(jobs=[flaky_model, nightly_orders], sensors=[failure_sensor]).get_repository_def()


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test(overrides={"run_retries": {"enabled": True}}) as dagster_instance:
        yield dagster_instance


def tick(sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, cursor: str | None) -> Any:
    with build_sensor_context(instance=instance, repository_def=repository, cursor=cursor) as context:
        return sensor.evaluate_tick(context)


def retry_of(parent: Any, root: Any, number: int, instance: DagsterInstance, *, last: bool) -> Any:
    """A run tagged the way the retry daemon tags one (the parent's tags plus the retry tags).
    In-process runs cannot join the parent's run group, so the ``will_retry`` decision Dagster
    derives from the group's size is written as the daemon would (``test_alert_daemon`` proves
    the daemon's own)."""
    tags = {
        **{k: v for k, v in parent.dagster_run.tags.items() if k != "dagster/will_retry"},
        "dagster/parent_run_id": parent.run_id,
        "dagster/root_run_id": root.run_id,
        "dagster/retry_number": str(number),
    }
    retry = flaky_model.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    instance.add_run_tags(parent.run_id, {"dagster/auto_retry_run_id": retry.run_id})
    instance.add_run_tags(retry.run_id, {"dagster/will_retry": "false" if last else "true"})
    return retry


def test_an_alert_not_published_is_published_by_a_later_tick(
    failure_sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, queue: Queue
) -> None:
    cursor = tick(failure_sensor, instance, repository, None).cursor
    run = nightly_orders.execute_in_process(instance=instance, raise_on_error=False)

    queue.up = False
    for _ in range(3):  # the daemon keeps the cursor of the last successful tick
        with pytest.raises(Exception, match="cannot send alerts to SQS queue"):
            tick(failure_sensor, instance, repository, cursor)
    queue.up = True
    recovered = tick(failure_sensor, instance, repository, cursor)

    [alert] = queue.take()
    assert (alert.run_id, alert.dedup_key) == (run.run_id, f"run_failure:{run.run_id}")
    assert EventCursor.parse(recovered.cursor).after > EventCursor.parse(cursor).after
    tick(failure_sensor, instance, repository, recovered.cursor)
    assert queue.take() == []


def test_a_retried_run_alerts_once_on_its_last_attempt(
    failure_sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, queue: Queue
) -> None:
    cursor = tick(failure_sensor, instance, repository, None).cursor
    first = flaky_model.execute_in_process(instance=instance, raise_on_error=False)
    assert instance.get_run_by_id(first.run_id).tags["dagster/will_retry"] == "true"
    waiting = tick(failure_sensor, instance, repository, cursor)
    assert queue.take() == []
    assert list(EventCursor.parse(waiting.cursor).waiting) == [first.run_id]

    second = retry_of(first, first, 1, instance, last=False)
    third = retry_of(second, first, 2, instance, last=True)
    done = tick(failure_sensor, instance, repository, waiting.cursor)

    [alert] = queue.take()
    assert alert.run_id == third.run_id
    assert alert.dedup_key == f"run_failure:{third.run_id}"
    assert alert.title == "Run of flaky_model failed after 3 attempts"
    assert alert.details.startswith(
        f"Attempt 3 of 3: run retries exhausted; first attempt: run {first.run_id}.\n"
    )
    assert "step load_orders: RuntimeError: warehouse refused the connection" in alert.details
    assert (alert.tags["dagster/retry_number"], alert.tags["dagster/root_run_id"]) == ("2", first.run_id)
    assert EventCursor.parse(done.cursor).waiting == {}


def test_a_run_whose_retry_never_starts_is_alerted_after_the_grace_period(
    failure_sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, queue: Queue
) -> None:
    cursor = tick(failure_sensor, instance, repository, None).cursor
    run = flaky_model.execute_in_process(instance=instance, raise_on_error=False)
    waiting = tick(failure_sensor, instance, repository, cursor)
    with freeze_time(get_current_timestamp() + 5 * 60):
        still = tick(failure_sensor, instance, repository, waiting.cursor)
    assert queue.take() == []
    with freeze_time(get_current_timestamp() + 11 * 60):
        tick(failure_sensor, instance, repository, still.cursor)

    [alert] = queue.take()
    assert alert.run_id == run.run_id
    assert alert.title == "Run of flaky_model failed"
    assert "marked this run for retry, but no retry started within 10 min" in alert.details


@pytest.mark.parametrize(
    ("tags", "retries_enabled", "waited", "expected"),
    [
        ({}, True, 5, Decision.WAIT),  # Dagster writes will_retry just after the failure: look again
        ({}, True, 31, Decision.ALERT),  # no decision recorded within the settle time: alert
        ({}, False, 0, Decision.ALERT),  # run retries disabled: no decision will come
        ({"dagster/will_retry": "false"}, True, 0, Decision.ALERT),
        ({"dagster/will_retry": "true"}, True, 599, Decision.WAIT),
        ({"dagster/will_retry": "true"}, True, 601, Decision.ALERT),
        ({"dagster/will_retry": "true", "dagster/auto_retry_run_id": "r2"}, True, 0, Decision.RETRIED),
    ],
)
def test_retry_decisions(tags: dict[str, str], retries_enabled: bool, waited: float, expected: Decision) -> None:
    run = DagsterRun(job_name="flaky_model", run_id="r1", tags=tags, status=DagsterRunStatus.FAILURE)
    verdict = decide(
        run,
        first_seen=1000.0,
        now=1000.0 + waited,
        has_retry_run=False,
        retries_enabled=retries_enabled,
        settle_seconds=30,
        retry_grace_seconds=600,
    )
    assert verdict.decision == expected


def test_dagster_plus_path_silences_the_sensor_and_keeps_its_cursor_current(
    failure_sensor: SensorDefinition,
    instance: DagsterInstance,
    repository: RepositoryDefinition,
    queue: Queue,
    prod_policy_data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prod_policy_data["alerting"] = {"job_failure_alerts": "dagster_plus"}
    monkeypatch.setenv("DAGSTER_PLATFORM_RUN_POLICY_JSON", json.dumps(prod_policy_data))
    cursor = tick(failure_sensor, instance, repository, None).cursor
    nightly_orders.execute_in_process(instance=instance, raise_on_error=False)

    silent = tick(failure_sensor, instance, repository, cursor)

    assert queue.take() == []
    assert silent.skip_message == "job failures alert through Dagster+ policies (alerting.job_failure_alerts: dagster_plus)"
    # switching back to the relay does not replay what Dagster+ already alerted
    prod_policy_data["alerting"] = {"job_failure_alerts": "relay"}
    monkeypatch.setenv("DAGSTER_PLATFORM_RUN_POLICY_JSON", json.dumps(prod_policy_data))
    tick(failure_sensor, instance, repository, silent.cursor)
    assert queue.take() == []


def test_the_cursor_of_the_replaced_run_status_sensor_is_continued(
    failure_sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, queue: Queue
) -> None:
    before = nightly_orders.execute_in_process(instance=instance, raise_on_error=False)
    [record] = instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=1).records
    legacy = RunStatusSensorCursor(record_id=record.storage_id, record_timestamp=None).to_json()
    after = nightly_orders.execute_in_process(instance=instance, raise_on_error=False)

    tick(failure_sensor, instance, repository, legacy)

    assert [a.run_id for a in queue.take()] == [after.run_id]  # not `before`, already handled
    assert before.run_id != after.run_id
    assert EventCursor.parse("not json") == EventCursor()
    assert EventCursor.parse(EventCursor(after=7, waiting={"r": 1.5}).dump()) == EventCursor(7, {"r": 1.5})


def test_a_silent_queue_fails_the_publish_promptly_instead_of_hanging_the_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts connections and never answers (a black-holed endpoint)."""
    import socket
    import time

    from dagster_platform import publish

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{listener.getsockname()[1]}")
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    publisher = publish.SqsAlertPublisher("https://sqs.eu-west-1.amazonaws.com/123456789012/alerts")
    config = publisher.client.meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (5, 10, 3)

    monkeypatch.setattr(publish, "READ_TIMEOUT_SECONDS", 1)
    publisher = publish.SqsAlertPublisher("https://sqs.eu-west-1.amazonaws.com/123456789012/alerts")
    alert = DagsterAlert(kind="run_failure", severity="error", title="t", occurred_at="2026-12-02T06:00:00+00:00")
    started = time.monotonic()
    try:
        with pytest.raises(AlertPublishError, match="cannot send alerts to SQS queue"):
            publisher.publish([alert])
    finally:
        listener.close()
    assert time.monotonic() - started < 3 * (1 + 1) + 5  # three attempts of 1 s, backoff included


def test_a_run_with_huge_tags_still_alerts(
    failure_sensor: SensorDefinition, instance: DagsterInstance, repository: RepositoryDefinition, queue: Queue
) -> None:
    """Tags bounded: a 300 kB tag (or 500 tags) would exceed the queue's message size and block the
    sensor's cursor for good; the alert keeps alert_team and the rest truncated."""
    from moto import mock_aws

    from dagster_platform.publish import SqsAlertPublisher

    cursor = tick(failure_sensor, instance, repository, None).cursor
    huge = {"notes": "x" * 300_000, **{f"t{n:03}": "v" for n in range(500)}}
    run = nightly_orders.execute_in_process(instance=instance, raise_on_error=False, tags=huge)
    tick(failure_sensor, instance, repository, cursor)
    [alert] = queue.take()

    assert alert.tags["alert_team"] == "data-eng" and len(alert.tags) == 100
    assert all(len(value) <= 1024 for value in alert.tags.values())
    with mock_aws():
        import boto3

        url = boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="alerts")["QueueUrl"]
        SqsAlertPublisher(url, client=boto3.client("sqs", region_name="eu-west-1")).publish([alert])
        [message] = boto3.client("sqs", region_name="eu-west-1").receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["run_id"] == run.run_id
