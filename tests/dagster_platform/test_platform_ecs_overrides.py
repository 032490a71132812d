"""ECS override tags: the size the checker computes is the size dagster-aws's real EcsRunLauncher
asks ECS for, and the rules refuse what the platform must not allow.

The launcher runs for real (instance config, container context, task definition in moto); its
RunTask request is validated by botocore against the ECS service model and captured at the client
(``before-call``), because moto cannot place Fargate tasks with awsvpc networking.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from dagster import DagsterInstance, instance_for_test, job, op
from dagster._core.code_pointer import FileCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from dagster_platform import ecs_overrides, rules
from dagster_platform.policy import LocationDefaults, RunPolicy, TaskSize

LOCATION = LocationDefaults("analytics", TaskSize(256, 1024), TaskSize(1024, 4096, 30), "data-eng")


@op
def work() -> None:
    return None


@job
def sized() -> None:
    work()


class Launcher:
    """The real EcsRunLauncher of a test instance; ``launch(tags)`` returns its RunTask request."""

    def __init__(self, instance: DagsterInstance, task_definition_arn: str) -> None:
        self.instance = instance
        self.task_definition_arn = task_definition_arn
        self.requests: list[dict] = []
        instance.run_launcher.ecs.meta.events.register("before-call.ecs.RunTask", self._capture)

    def _capture(self, params, **_kwargs):
        self.requests.append(json.loads(params["body"]))
        parsed = {
            "tasks": [
                {
                    "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/dagster/0123",
                    "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/dagster",
                }
            ],
            "failures": [],
        }
        return AWSResponse("https://ecs.eu-west-1.amazonaws.com/", 200, {}, None), parsed

    def launch(self, tags: dict[str, str]) -> dict:
        run_resources = {"cpu": str(LOCATION.run.cpu), "memory": str(LOCATION.run.memory), "ephemeral_storage": LOCATION.run.ephemeral_storage_gib}
        code_origin = JobPythonOrigin(
            "sized",
            RepositoryPythonOrigin(
                executable_path="python",
                code_pointer=FileCodePointer(__file__, "sized"),
                container_image="analytics:1",
                container_context={"ecs": {"task_definition_arn": self.task_definition_arn, "run_resources": run_resources}},
            ),
        )
        remote = RemoteJobOrigin(
            RemoteRepositoryOrigin(
                InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__), location_name="analytics"),
                "__repository__",
            ),
            "sized",
        )
        run = self.instance.create_run_for_job(sized, tags=tags, remote_job_origin=remote, job_code_origin=code_origin)
        self.instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        return self.requests[-1]


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            ecs = boto3.client("ecs", region_name="eu-west-1")
            ecs.create_cluster(clusterName="dagster")
            arn = ecs.register_task_definition(
                family="analytics-run",
                requiresCompatibilities=["FARGATE"],
                cpu="1024",
                memory="4096",
                containerDefinitions=[{"name": "run", "image": "analytics:1", "memory": 4096}],
            )["taskDefinition"]["taskDefinitionArn"]
            config = {
                "use_current_ecs_task_config": False,
                "run_task_kwargs": {"cluster": "dagster", "launchType": "FARGATE"},
            }
            with instance_for_test(
                overrides={"run_launcher": {"module": "dagster_aws.ecs", "class": "EcsRunLauncher", "config": config}}
            ) as instance:
                yield Launcher(instance, arn)


def _as_int(value) -> int | None:
    return None if value is None else int(value)


sizes = st.sampled_from(["256", "1024", "4096", "16384"])
memories = st.sampled_from(["512", "2048", "8192", "122880"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cpu_tag=st.none() | sizes,
    memory_tag=st.none() | memories,
    override_cpu=st.none() | sizes,
    override_memory=st.none() | memories,
    storage_tag=st.none() | st.sampled_from(["25", "60"]),
    override_storage=st.none() | st.sampled_from([40, 150]),
)
def test_the_computed_task_size_is_what_the_real_launcher_requests(
    launcher: Launcher, cpu_tag, memory_tag, override_cpu, override_memory, storage_tag, override_storage
) -> None:
    tags: dict[str, str] = {}
    if cpu_tag:
        tags["ecs/cpu"] = cpu_tag
    if memory_tag:
        tags["ecs/memory"] = memory_tag
    if storage_tag:
        tags["ecs/ephemeral_storage"] = storage_tag
    task: dict = {}
    if override_cpu:
        task["cpu"] = override_cpu
    if override_memory:
        task["memory"] = override_memory
    if override_storage:
        task["ephemeralStorage"] = {"sizeInGiB": override_storage}
    if task:
        tags["ecs/task_overrides"] = json.dumps(task)

    request = launcher.launch(tags)
    computed = ecs_overrides.effective_task_size(tags, LOCATION)

    overrides = request["overrides"]
    assert _as_int(overrides.get("cpu")) == computed.cpu.value
    assert _as_int(overrides.get("memory")) == computed.memory.value
    assert overrides.get("ephemeralStorage", {}).get("sizeInGiB") == computed.ephemeral_storage_gib.value


def test_container_overrides_and_run_task_kwargs_reach_run_task(launcher: Launcher) -> None:
    tags = {
        "ecs/container_overrides": json.dumps({"memory": 2048, "command": ["sh", "-c", "echo hijacked"]}),
        "ecs/run_task_kwargs": json.dumps({"taskDefinition": "someone-elses:1", "count": 1}),
    }
    request = launcher.launch(tags)

    # the tags really replace the run's command and its task definition: the checker must refuse them
    assert request["overrides"]["containerOverrides"][0]["command"] == ["sh", "-c", "echo hijacked"]
    assert request["overrides"]["containerOverrides"][0]["memory"] == 2048
    assert request["taskDefinition"] == "someone-elses:1"
    problems = {(p.tag, p.field) for p in rules.check_tags(tags, _policy(), LOCATION)}
    assert ("ecs/container_overrides", "command") in problems
    assert ("ecs/run_task_kwargs", "taskDefinition") in problems
    assert ("ecs/run_task_kwargs", "count") not in problems  # count 1 is the default


def _policy(**ecs: list[str]) -> RunPolicy:
    data = {
        "schema_version": 1,
        "environment": "prod",
        "limits": {"max_cpu": 4096, "max_memory_mib": 30720, "max_ephemeral_storage_gib": 100},
        "retries": {"max_run_retries": 5, "max_op_retries": 5, "strategies": ["FROM_FAILURE"]},
        "priority": {"min": -10, "max": 10},
        "ecs_overrides": ecs,
    }
    return RunPolicy.from_dict(data, source="test")


def reasons(tags: dict[str, str], policy: RunPolicy | None = None, location: LocationDefaults | None = LOCATION) -> list[str]:
    return [p.for_checker() for p in rules.check_tags(tags, policy or _policy(), location)]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            {"ecs/task_overrides": json.dumps({"cpu": "16 vCPU", "memory": "120 GB"})},
            [
                "tag ecs/task_overrides: cpu='16384': above the prod policy cap limits.max_cpu=4096",
                "tag ecs/task_overrides: memory='122880': above the prod policy cap limits.max_memory_mib=30720",
            ],
        ),
        (
            {"ecs/task_overrides": json.dumps({"memory": "30720"})},  # with the location's 1024 CPU
            [
                "tag ecs/task_overrides: memory='30720': not offered by Fargate with cpu 1024 (location default); "
                "memory allowed for cpu 1024: 2048, 3072, 4096, 5120, 6144, 7168, 8192"
            ],
        ),
        (
            {"ecs/cpu": "2048", "ecs/memory": "8192", "ecs/task_overrides": json.dumps({"cpu": "4096"})},
            [],  # 4096 CPU with 8192 MiB is a Fargate size within the caps
        ),
        (
            {"ecs/task_overrides": json.dumps({"containerOverrides": [], "inferenceAccelerators": []})},
            [
                "tag ecs/task_overrides: inferenceAccelerators='[]': not a field of ECS TaskOverride; allowed: "
                "containerOverrides, cpu, inferenceAcceleratorOverrides, executionRoleArn, memory, taskRoleArn, ephemeralStorage",
                "tag ecs/task_overrides: containerOverrides='[]': replaces the launcher's container override, including "
                "the run's command; use ecs/container_overrides",
            ],
        ),
        (
            {"ecs/task_overrides": json.dumps({"ephemeralStorage": {"sizeInGiB": 150}})},
            [
                "tag ecs/task_overrides: ephemeralStorage='{\"sizeInGiB\": 150}': ignored: the launcher replaces it with "
                "30 GiB (location default); set ecs/ephemeral_storage instead"
            ],
        ),
        (
            {"ecs/run_task_kwargs": json.dumps({"launchType": "EC2", "overrides": {}, "cluster": "other"})},
            [
                "tag ecs/run_task_kwargs: cluster='other': moves the run off the platform's cluster",
                "tag ecs/run_task_kwargs: overrides='{}': replaces the launcher's overrides, including the run's command; use ecs/task_overrides",
                "tag ecs/run_task_kwargs: launchType='EC2': runs are Fargate tasks; allowed: FARGATE",
            ],
        ),
        (
            {"ecs/run_task_kwargs": "{not json"},
            [
                "tag ecs/run_task_kwargs='{not json': not valid JSON (Expecting property name enclosed in double quotes at column 2); "
                "the run launcher would fail"
            ],
        ),
        (
            {"ecs/container_overrides": json.dumps({"cpu": 8192, "memoryReservation": 4096, "memory": 2048})},
            [
                "tag ecs/container_overrides: cpu='8192': above the prod policy cap limits.max_cpu=4096",
                "tag ecs/container_overrides: memoryReservation='4096': above the container's memory 2048",
            ],
        ),
    ],
)
def test_override_rules(tags: dict[str, str], expected: list[str]) -> None:
    assert reasons(tags) == expected


def test_roles_subnets_and_security_groups_must_be_the_platforms() -> None:
    role = "arn:aws:iam::123456789012:role/dagster-prod-analytics-task"
    tags = {
        "ecs/task_overrides": json.dumps({"taskRoleArn": role}),
        "ecs/run_task_kwargs": json.dumps(
            {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0aaa1111bbbb2222c"], "securityGroups": ["sg-1"]}}}
        ),
    }
    refused = reasons(tags)
    assert len(refused) == 3
    assert refused[0].startswith(f"tag ecs/task_overrides: taskRoleArn='{role}': not a role this platform created")

    allowed = _policy(role_arns=[role], subnets=["subnet-0aaa1111bbbb2222c"], security_groups=["sg-1"])
    assert reasons(tags, allowed) == []


def test_a_lone_override_without_a_location_asks_for_the_pair() -> None:
    assert reasons({"ecs/task_overrides": json.dumps({"cpu": "2048"})}, location=None) == [
        "tag ecs/task_overrides: cpu='2048': set without memory; set both, or check with --location to combine it "
        "with the location's run default"
    ]
