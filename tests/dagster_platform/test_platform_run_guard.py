"""The run guard with a real Dagster instance (queued run coordinator), real runs, the real sensor
evaluation, and alerts through the real SQS publisher (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RetryRequested,
    build_sensor_context,
    instance_for_test,
    job,
    op,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from moto import mock_aws

from dagster_platform.alerts import MAX_TAG_VALUE, MAX_TAGS
from dagster_platform.policy import RunPolicy
from dagster_platform.publish import AlertPublishError, SqsAlertPublisher
from dagster_platform.run_guard import REFUSED, TAG_RUN_POLICY, run_policy_guard_sensor

OVERSIZED = json.dumps({"cpu": "16384", "memory": "122880"})


@op
def extract() -> None:
    return None


@op
def flaky(context) -> None:
    wanted = int(context.run.tags.get("wanted_retries", "0"))  # computed at run time: no literal to read
    if context.retry_number < wanted:
        raise RetryRequested(max_retries=wanted)


@job(tags={"alert_team": "data-eng"})
def daily() -> None:
    extract()


@job(tags={"alert_team": "ml"})
def retrying() -> None:
    flaky()


@pytest.fixture
def prod(prod_policy_data: dict) -> RunPolicy:
    prod_policy_data["limits"]["max_memory_mib"] = 30720
    return RunPolicy.from_dict(prod_policy_data, source="test")


@pytest.fixture
def queue(aws_environment):
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        yield sqs, url


@pytest.fixture
def instance():
    with instance_for_test(
        overrides={
            "run_coordinator": {
                "module": "dagster._core.run_coordinator.queued_run_coordinator",
                "class": "QueuedRunCoordinator",
            }
        }
    ) as instance:
        yield instance


def queued_run(instance: DagsterInstance, job_def, tags: dict[str, str], location: str = "analytics"):
    """A run as the webserver queues it: with its code location's origin (the queue requires one)."""
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(
            InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__), location_name=location),
            "__repository__",
        ),
        job_def.name,
    )
    return instance.create_run_for_job(job_def, status=DagsterRunStatus.QUEUED, tags=tags, remote_job_origin=origin)


def received(sqs, url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def tick(guard, defs: Definitions, instance: DagsterInstance, cursor: str | None):
    context = build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), cursor=cursor)
    return guard.evaluate_tick(context)


def test_a_run_launched_with_oversized_override_tags_is_canceled_in_the_queue_and_alerted(
    prod: RunPolicy, queue, instance: DagsterInstance
) -> None:
    sqs, url = queue
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[daily, retrying], sensors=[guard])
    # tags added at launch (the UI's "edit tags", a backfill, a sensor's RunRequest): only the run has them
    bad = queued_run(instance, daily, {"alert_team": "data-eng", "ecs/task_overrides": OVERSIZED})
    good = queued_run(instance, daily, {"alert_team": "data-eng"})

    result = tick(guard, defs, instance, None)

    assert instance.get_run_by_id(bad.run_id).status == DagsterRunStatus.CANCELED
    assert instance.get_run_by_id(bad.run_id).tags[TAG_RUN_POLICY] == REFUSED
    assert instance.get_run_by_id(good.run_id).status == DagsterRunStatus.QUEUED
    [alert] = received(sqs, url)
    assert alert["kind"] == "run_failure"
    assert alert["team"] == "data-eng"
    assert alert["run_id"] == bad.run_id
    assert alert["title"] == "Run of daily refused by the run policy"
    assert "tag ecs/task_overrides: cpu='16384': above the prod policy cap limits.max_cpu=4096" in alert["details"]
    assert "tag ecs/task_overrides: memory='122880': above the prod policy cap limits.max_memory_mib=30720" in alert["details"]

    again = tick(guard, defs, instance, result.cursor)  # remembered: no second alert
    assert received(sqs, url) == []
    assert again.skip_message == "every active run of this location follows the run policy"


def test_an_unknown_team_in_launch_tags_routes_the_alert_to_the_location_team(
    prod: RunPolicy, queue, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    monkeypatch.setenv("DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM", "data-eng")
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[daily], sensors=[guard])
    run = queued_run(instance, daily, {"alert_team": "nobody", "dagster/priority": "20"})

    tick(guard, defs, instance, None)

    [alert] = received(sqs, url)
    assert alert["team"] == "data-eng"
    assert alert["run_id"] == run.run_id
    details = alert["details"].splitlines()
    assert "tag dagster/priority='20': outside the prod policy range; allowed: -10..10" in details
    assert "tag alert_team='nobody': not a team in the prod policy; allowed: data-eng, ml, platform" in details


def test_a_refused_runs_alert_carries_its_tags_within_the_alert_bounds(
    prod: RunPolicy, queue, instance: DagsterInstance
) -> None:
    """Built like every other run alert: at most MAX_TAGS tags, the routing tag kept whatever the count."""
    sqs, url = queue
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[daily], sensors=[guard])
    many = {f"aaa/note/{index:03d}": "x" * 2000 for index in range(MAX_TAGS + 50)}  # all sort before alert_team
    run = queued_run(instance, daily, {**many, "dagster/priority": "20", "alert_team": "ml"})

    tick(guard, defs, instance, None)

    [alert] = received(sqs, url)
    assert alert["run_id"] == run.run_id
    assert len(alert["tags"]) == MAX_TAGS
    assert alert["tags"]["alert_team"] == "ml"
    assert all(len(value) <= MAX_TAG_VALUE for value in alert["tags"].values())


def test_retries_requested_at_run_time_beyond_the_cap_are_alerted(
    prod: RunPolicy, queue, instance: DagsterInstance
) -> None:
    sqs, url = queue
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[daily, retrying], sensors=[guard])
    first = tick(guard, defs, instance, None)

    result = retrying.execute_in_process(instance=instance, tags={"wanted_retries": "7"}, raise_on_error=False)
    retries = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY).records
    assert len(retries) == 7  # the real run retried its step 7 times, past the cap of 5

    tick(guard, defs, instance, first.cursor)

    [alert] = received(sqs, url)
    assert alert["run_id"] == result.run_id
    assert alert["team"] == "ml"
    assert alert["title"] == "Run of retrying broke the run policy"
    assert "step 'flaky' retried 7 times: above the prod policy cap retries.max_op_retries=5" in alert["details"]


def test_a_run_within_the_retry_cap_is_left_alone(prod: RunPolicy, queue, instance: DagsterInstance) -> None:
    sqs, url = queue
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[retrying], sensors=[guard])
    first = tick(guard, defs, instance, None)
    retrying.execute_in_process(instance=instance, tags={"wanted_retries": "5"}, raise_on_error=False)

    tick(guard, defs, instance, first.cursor)

    assert received(sqs, url) == []


def test_a_failed_publish_fails_the_tick_and_the_next_tick_sends_the_alert(
    prod: RunPolicy, queue, instance: DagsterInstance
) -> None:
    sqs, url = queue
    defs_broken = Definitions(
        jobs=[daily],
        sensors=[run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url + "-missing"))],
    )
    run = queued_run(instance, daily, {"alert_team": "data-eng", "dagster/max_retries": "9"})

    with pytest.raises(AlertPublishError):
        tick(defs_broken.get_sensor_def("platform_run_policy_guard"), defs_broken, instance, None)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELED  # resources protected first

    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    tick(guard, Definitions(jobs=[daily], sensors=[guard]), instance, None)

    [alert] = received(sqs, url)
    assert alert["run_id"] == run.run_id
    assert "tag dagster/max_retries='9': above the prod policy cap retries.max_run_retries=5" in alert["details"]


def test_a_started_run_the_launcher_cannot_stop_is_alerted_as_such(
    prod: RunPolicy, queue, instance: DagsterInstance
) -> None:
    sqs, url = queue
    guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
    defs = Definitions(jobs=[daily], sensors=[guard])
    # a STARTED run record without a launcher-managed process: termination is refused
    run = instance.create_run_for_job(
        daily,
        status=DagsterRunStatus.STARTED,
        tags={"alert_team": "data-eng", "dagster-k8s/config": json.dumps({"container_config": {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}})},
    )

    tick(guard, defs, instance, None)

    [alert] = received(sqs, url)
    assert alert["run_id"] == run.run_id
    assert alert["title"] == "Run of daily breaks the run policy and could not be stopped"
    assert "container_config.resources.requests.memory='2Gi': above its limit 1Gi" in alert["details"]



SLOW_LOCATION = '''
import time
from dagster import Definitions, job, op

@op
def wait() -> None:
    time.sleep(120)

@job(tags={"alert_team": "data-eng"})
def slow() -> None:
    wait()

defs = Definitions(jobs=[slow])
'''


def test_a_started_run_is_terminated_by_its_launcher(prod: RunPolicy, queue, tmp_path, monkeypatch) -> None:
    """A real run in a subprocess launched through a gRPC code server (Dagster's DefaultRunLauncher),
    with a priority the policy refuses: the guard's cancel request stops the run worker."""
    import importlib
    import sys
    import time

    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import PythonFileTarget

    sqs, url = queue
    (tmp_path / "slow_location.py").write_text(SLOW_LOCATION, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    slow_location = importlib.import_module("slow_location")
    target = PythonFileTarget(
        python_file=str(tmp_path / "slow_location.py"),
        attribute="defs",
        working_directory=str(tmp_path),
        location_name="analytics",
    )
    with instance_for_test() as instance, WorkspaceProcessContext(instance, target) as process_context:
        workspace = process_context.create_request_context()
        remote_job = workspace.get_code_location("analytics").get_repository("__repository__").get_full_job("slow")
        run = instance.create_run_for_job(
            job_def=slow_location.slow,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            tags={"alert_team": "data-eng", "dagster/priority": "20"},
        )
        instance.launch_run(run.run_id, workspace)
        deadline = time.monotonic() + 120
        while instance.get_run_by_id(run.run_id).status != DagsterRunStatus.STARTED and time.monotonic() < deadline:
            time.sleep(0.5)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED

        guard = run_policy_guard_sensor(policy=prod, publisher=SqsAlertPublisher(url))
        tick(guard, Definitions(jobs=[slow_location.slow], sensors=[guard]), instance, None)

        while instance.get_run_by_id(run.run_id).status != DagsterRunStatus.CANCELED and time.monotonic() < deadline:
            time.sleep(0.5)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.CANCELED
    sys.modules.pop("slow_location", None)
    [alert] = received(sqs, url)
    assert alert["title"] == "Run of slow refused by the run policy"
    assert alert["location"] == "analytics"
    assert "tag dagster/priority='20': outside the prod policy range; allowed: -10..10" in alert["details"]
