"""The run-failure alerts against the real ``dagster-daemon``: a queue outage loses nothing, and a
run retried by the daemon's own auto-retry alerts once, on its last attempt.

One daemon (subprocess, temp DAGSTER_HOME, ``run_retries`` enabled, a workspace with a small code
location) and one moto SQS server (``ThreadedMotoServer`` on 127.0.0.1, stopped and started on the
same port for the outage) serve both tests. The code location's ``trigger`` sensor launches a run of
the job named in each file the test writes, so every run is launched, failed and retried by the
daemon itself; the test only reads the instance and the queue.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from moto.server import ThreadedMotoServer

from dagster_platform.alert_contract import DagsterAlert, parse_alert

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGSTER_DAEMON = Path(sys.executable).parent / "dagster-daemon"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
#: The whole module (daemon start, five runs, an outage) must finish well within this.
DEADLINE_SECONDS = 240

LOCATION = '''
import os
from pathlib import Path

from dagster import DefaultSensorStatus, Definitions, RunRequest, SkipReason, job, op, sensor

from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route, retries, run_tags

TRIGGERS = Path(os.environ["ALERT_TEST_TRIGGERS"])


@op
def load_orders():
    raise RuntimeError("warehouse refused the connection")


@job(tags=run_tags(alert_route("data-eng"), retries(0)))
def nightly_orders():
    load_orders()


@job(tags=run_tags(alert_route("ml"), retries(2)))
def flaky_model():
    load_orders()


@sensor(jobs=[nightly_orders, flaky_model], minimum_interval_seconds=1, default_status=DefaultSensorStatus.RUNNING)
def trigger(context):
    requests = [RunRequest(run_key=path.name, job_name=path.read_text().strip()) for path in sorted(TRIGGERS.iterdir())]
    return requests or SkipReason("no trigger files")


alert_sensors = platform_alert_sensors(
    minimum_interval_seconds=1,
    success_alerts=False,
    asset_check_alerts=False,
    freshness_alerts=False,
    default_status=DefaultSensorStatus.RUNNING,
)
defs = Definitions(jobs=[nightly_orders, flaky_model], sensors=[trigger, *alert_sensors])
'''

DAGSTER_YAML = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_retries:
  enabled: true
  max_retries: 0
telemetry:
  enabled: false
"""

T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Platform:
    home: Path
    triggers: Path
    queue_url: str
    server: ThreadedMotoServer
    port: int
    daemon: subprocess.Popen[bytes]
    log: Path
    started: float

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.home))

    def sqs(self) -> Any:
        return boto3.client("sqs", region_name=REGION, endpoint_url=f"http://127.0.0.1:{self.port}")

    def launch(self, job_name: str, key: str) -> None:
        (self.triggers / key).write_text(job_name)

    def stop_queue(self) -> None:
        self.server.stop()

    def start_queue(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        """Poll ``probe`` until it returns a value; fail with the daemon's log tail otherwise."""
        deadline = min(time.monotonic() + timeout, self.started + DEADLINE_SECONDS)
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                pytest.fail(f"dagster-daemon exited ({self.daemon.returncode}) waiting for {what}:\n{self.tail()}")
            value = probe()
            if value:
                return value
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def received(self) -> list[DagsterAlert]:
        """Every message now on the queue, parsed with the relay's own contract parser, deleted."""
        sqs, alerts = self.sqs(), []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return alerts
            for message in batch:
                alerts.append(parse_alert(json.loads(message["Body"])))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _aws_env() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if not DAGSTER_DAEMON.exists():
        pytest.fail(f"{DAGSTER_DAEMON} not found: run make install")
    root = tmp_path_factory.mktemp("alert-daemon")
    home, triggers = root / "home", root / "triggers"
    home.mkdir()
    triggers.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    (root / "location.py").write_text(LOCATION)
    (root / "workspace.yaml").write_text(
        textwrap.dedent(
            f"""
            load_from:
              - python_file:
                  relative_path: location.py
                  location_name: alerts_test
                  working_directory: {root}
            """
        )
    )
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    old_env = {name: os.environ.get(name) for name in _aws_env()}
    os.environ.update(_aws_env())  # the test's own boto3 client talks to the moto server too
    endpoint = f"http://127.0.0.1:{port}"
    queue_url = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint).create_queue(
        QueueName="dagster-platform-test-alerts"
    )["QueueUrl"]

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAGSTER_PLATFORM_", "DAGSTER_CLOUD_", "AWS_"))
    }
    env.update(
        _aws_env(),
        DAGSTER_HOME=str(home),
        PYTHONPATH=str(REPO_ROOT),
        ALERT_TEST_TRIGGERS=str(triggers),
        DAGSTER_PLATFORM_ALERT_QUEUE_URL=queue_url,
        AWS_ENDPOINT_URL_SQS=endpoint,  # boto3 sends SQS calls to the moto server
        DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS="1",  # the auto-retry daemon's poll
    )
    # create the SQLite storages before two processes race to migrate them
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=1)
    log = root / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(DAGSTER_DAEMON), "run", "-w", str(root / "workspace.yaml")],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    platform = Platform(home, triggers, queue_url, server, port, daemon, log, time.monotonic())
    try:
        yield platform
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        platform.server.stop()
        for name, value in old_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _runs(platform: Platform, job_name: str) -> list[Any]:
    with platform.instance() as instance:
        return list(reversed(instance.get_runs(RunsFilter(job_name=job_name))))  # oldest first


def _alert_sensor_ticks(platform: Platform, status: TickStatus | None = None) -> list[Any]:
    with platform.instance() as instance:
        states = [
            state
            for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if state.name == "platform_alerts_run_failure"
        ]
        return [
            tick
            for state in states
            for tick in instance.get_ticks(
                state.instigator_origin_id, state.selector_id, statuses=[status] if status else None
            )
        ]


def test_an_alert_raised_during_a_queue_outage_arrives_after_the_queue_returns(platform: Platform) -> None:
    # the alert sensor has started (its first tick sets its cursor) before anything fails
    platform.wait_for("the alert sensor's first tick", lambda: _alert_sensor_ticks(platform, TickStatus.SKIPPED), 120)
    platform.stop_queue()

    platform.launch("nightly_orders", "outage")
    [run] = platform.wait_for(
        "nightly_orders to fail",
        lambda: [r for r in _runs(platform, "nightly_orders") if r.status == DagsterRunStatus.FAILURE],
        120,
    )
    with platform.instance() as instance:
        failed_at = instance.get_run_record_by_id(run.run_id).end_time
    # the alert sensor ticks at least twice while the queue is down
    platform.wait_for(
        "two alert ticks during the outage",
        lambda: len([t for t in _alert_sensor_ticks(platform) if t.timestamp > failed_at and t.status != TickStatus.STARTED]) >= 2,
        60,
    )

    platform.start_queue()
    [alert] = platform.wait_for("the alert after the outage", platform.received, 60)

    failed = [t for t in _alert_sensor_ticks(platform, TickStatus.FAILURE) if t.timestamp > failed_at]
    assert len(failed) >= 2 and all("cannot send alerts to SQS queue" in str(t.error) for t in failed)
    assert (alert.kind, alert.run_id, alert.job, alert.team) == ("run_failure", run.run_id, "nightly_orders", "data-eng")
    assert alert.dedup_key == f"run_failure:{run.run_id}"
    assert "warehouse refused the connection" in alert.details
    assert alert.location == "alerts_test"
    # once published, the cursor has moved: later ticks succeed and send nothing more
    succeeded = len(_alert_sensor_ticks(platform, TickStatus.SKIPPED))
    platform.wait_for("two more alert ticks", lambda: len(_alert_sensor_ticks(platform, TickStatus.SKIPPED)) >= succeeded + 2, 60)
    assert platform.received() == []


def _settled(run: Any) -> bool:
    """Failed, and Dagster's retry decision recorded (written just after the failure)."""
    return run.status == DagsterRunStatus.FAILURE and "dagster/will_retry" in run.tags


def test_a_run_retried_by_the_daemon_alerts_once_on_its_last_attempt(platform: Platform) -> None:
    platform.received()  # start from an empty queue
    platform.launch("flaky_model", "flaky")
    runs = platform.wait_for(
        "flaky_model and its two automatic retries to fail",
        lambda: (lambda rs: rs if len(rs) == 3 and all(_settled(r) for r in rs) else None)(
            _runs(platform, "flaky_model")
        ),
        150,
    )
    first, _, last = runs
    assert [r.tags.get("dagster/retry_number") for r in runs] == [None, "1", "2"]
    assert [r.tags.get("dagster/will_retry") for r in runs] == ["true", "true", "false"]

    [alert] = platform.wait_for("the alert of the last attempt", platform.received, 60)
    assert alert.run_id == last.run_id
    assert alert.title == "Run of flaky_model failed after 3 attempts"
    assert f"first attempt: run {first.run_id}" in alert.details
    assert alert.tags["dagster/root_run_id"] == first.run_id
    assert alert.team == "ml"
    # the earlier attempts were settled before the last one was alerted: nothing else comes
    settled = len(_alert_sensor_ticks(platform, TickStatus.SKIPPED))
    platform.wait_for("two more alert ticks", lambda: len(_alert_sensor_ticks(platform, TickStatus.SKIPPED)) >= settled + 2, 60)
    assert platform.received() == []
