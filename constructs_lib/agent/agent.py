"""The Dagster+ ECS agent: its task definition, service, roles and security groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from ..cluster import DagsterCluster
from ..config import AgentSettings, DagsterCloudSettings
from ..nag import acknowledge, acknowledge_wildcards
from ..retention import log_retention
from ..token_secret import AgentTokenSecret
from ..workload import WorkloadRoles, ecs_tasks_principal
from .agent_config import (
    DAGSTER_HOME,
    ENV_AGENT_CONFIG,
    ENV_AGENT_TOKEN,
    ENV_CLUSTER,
    ENV_EXECUTION_ROLE_ARN,
    ENV_LOG_GROUP,
    ENV_NAMESPACE_ID,
    ENV_TASK_ROLE_ARN,
    READINESS_SENTINEL,
    AgentConfigInputs,
    render_agent_config,
    security_group_env,
    subnet_env,
    to_yaml,
)
from .permissions import agent_statements, pass_role_statement

if TYPE_CHECKING:
    from ..code_locations import DagsterCodeLocation

CODE_SERVER_PORT = 4000
STOP_TIMEOUT = Duration.seconds(120)

# Writes the rendered document (an environment variable, not a template of shell echoes) to
# $DAGSTER_HOME and hands the process over to the agent.
START_SCRIPT = (
    'mkdir -p "$DAGSTER_HOME" '
    f'&& printf \'%s\\n\' "${ENV_AGENT_CONFIG}" > "$DAGSTER_HOME/dagster.yaml" '
    '&& exec dagster-cloud agent run "$DAGSTER_HOME"'
)


class DagsterAgent(Construct):
    """Runs the Dagster+ agent as a Fargate service that launches code servers and runs.

    Creates the agent's task definition (image pinned, token from Secrets Manager, rendered
    ``dagster.yaml``), a service with a rollback circuit breaker and either 100/0 deploys (two
    agents never overlap) or zero-downtime 200/100 deploys gated on the agent's readiness
    sentinel, a security group with no ingress for the agent, a workload security group that
    admits only the agent on the code-server port, and IAM scoped to this cluster, namespace,
    log group, tagged secrets and the workload roles it may pass. What it is not given it creates:
    the token secret (empty), the two log groups, the workload roles.

    Minimal use::

        cluster = DagsterCluster(stack, "Cluster", settings=ClusterSettings(), vpc=vpc, namespace_name="dagster.local")
        agent = DagsterAgent(stack, "Agent", environment_name="prod", cluster=cluster,
                             dagster=DagsterCloudSettings(organization="acme", deployments=("prod",)),
                             agent=AgentSettings(version="1.13.27"))
        agent.allow_passing(my_location_task_role)

    Attributes: ``service``, ``task_definition``, ``container``, ``task_role``, ``execution_role``,
    ``agent_security_group``, ``workload_security_group``, ``token_secret``, ``agent_log_group``,
    ``workload_log_group``, ``workload_execution_role``, ``workload_task_role``, ``workload``
    (the :class:`~constructs_lib.workload.WorkloadRoles` created, or None when roles were given),
    ``subnet_ids``, ``assign_public_ip``, ``config_document`` (dict), ``config_yaml`` (str, the
    review copy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        dagster: DagsterCloudSettings,
        agent: AgentSettings,
        cluster: "DagsterCluster | ecs.ICluster",
        namespace: servicediscovery.PrivateDnsNamespace | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        assign_public_ip: bool | None = None,
        token_secret: secretsmanager.ISecret | None = None,
        agent_log_group: logs.ILogGroup | None = None,
        workload_log_group: logs.ILogGroup | None = None,
        workload_execution_role: iam.IRole | None = None,
        workload_task_role: iam.IRole | None = None,
        inherited_environment: Mapping[str, str] | None = None,
        extra_config_blocks: Mapping[str, Any] | None = None,
        service_name: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """Create the agent of one environment.

        Required:
          ``environment_name``: the environment this agent serves (``prod``); the value of the
            ``agent.secrets_tag`` tag on the secrets the agent may describe, and the name in the
            rendered file.
          ``dagster``: organization, deployments, queues (:class:`~constructs_lib.config.DagsterCloudSettings`).
          ``agent``: image version, size, replicas, deploy mode, ``secrets_tag``, ``token_secret``
            (:class:`~constructs_lib.config.AgentSettings`).
          ``cluster``: a :class:`~constructs_lib.cluster.DagsterCluster` (its ECS cluster, VPC and
            Cloud Map namespace are used), or an ``ecs.ICluster`` with a VPC plus ``namespace``.

        Optional, derived when omitted:
          ``namespace``: the Cloud Map namespace code servers register in (default: the
            DagsterCluster's).
          ``vpc_subnets``: where the agent, code servers and runs get their network interfaces
            (default: CDK's choice in the cluster's VPC, private subnets with egress when there are any).
          ``assign_public_ip``: default True exactly when the selected subnets are public (CDK knows
            this for VPCs it creates; say so for imported public subnets).
          ``token_secret``: the secret holding the agent token (default: the one named in
            ``agent.token_secret``, else a new EMPTY secret ``dagster/<environment>/agent-token``
            to fill with ``aws secretsmanager put-secret-value``). A JSON key in it is
            ``agent.token_secret.json_field``. The token never passes through CloudFormation.
          ``agent_log_group``, ``workload_log_group``: default new groups kept
            ``agent.log_retention_days``.
          ``workload_execution_role``, ``workload_task_role``: both or neither; default a new
            :class:`~constructs_lib.workload.WorkloadRoles` that reads only secrets tagged
            ``<agent.secrets_tag>=<environment_name>`` and never the token secret.
          ``inherited_environment``: variables the agent sets and its code servers and runs inherit.
          ``extra_config_blocks``: more top-level blocks of ``dagster.yaml`` (e.g. ``compute_logs``).
          ``service_name``: a fixed ECS service name (default: generated).
          ``removal_policy``: of the secret and log groups created here (default RETAIN).
        """
        if (workload_execution_role is None) != (workload_task_role is None):
            raise ValueError(
                "DagsterAgent: give both workload_execution_role and workload_task_role, or neither "
                "(then the agent creates WorkloadRoles)"
            )
        ecs_cluster, namespace = _cluster_and_namespace(cluster, namespace)
        super().__init__(scope, construct_id)
        inherited_environment = dict(inherited_environment or {})
        vpc = ecs_cluster.vpc
        subnets = vpc_subnets or ec2.SubnetSelection()
        subnet_ids, has_public = _selected_subnets(vpc, subnets)
        if assign_public_ip is None:
            assign_public_ip = has_public
        self.subnet_ids = subnet_ids
        self.assign_public_ip = assign_public_ip
        if token_secret is None:
            token_secret = AgentTokenSecret(
                self, "TokenSecret", settings=agent.token_secret,
                secret_name=f"dagster/{environment_name}/agent-token", removal_policy=removal_policy,
            ).secret
        self.token_secret = token_secret
        token_json_field = agent.token_secret.json_field
        self.agent_log_group = agent_log_group or logs.LogGroup(
            self, "AgentLogs", retention=log_retention(agent.log_retention_days), removal_policy=removal_policy
        )
        self.workload_log_group = workload_log_group or logs.LogGroup(
            self, "WorkloadLogs", retention=log_retention(agent.log_retention_days), removal_policy=removal_policy
        )
        agent_log_group, workload_log_group = self.agent_log_group, self.workload_log_group
        self.workload: WorkloadRoles | None = None
        if workload_execution_role is None:
            self.workload = WorkloadRoles(
                self, "Workload", log_group=workload_log_group, secrets_tag=agent.secrets_tag,
                secrets_tag_value=environment_name, denied_secret_arns=[token_secret.secret_arn],
            )
            workload_execution_role, workload_task_role = self.workload.execution_role, self.workload.task_role
        self.workload_execution_role = workload_execution_role
        self.workload_task_role = workload_task_role
        cluster = ecs_cluster

        self.agent_security_group = ec2.SecurityGroup(
            self,
            "AgentSecurityGroup",
            vpc=vpc,
            description="Dagster+ agent: no ingress; HTTPS out, gRPC to code servers",
            allow_all_outbound=False,
        )
        self.workload_security_group = ec2.SecurityGroup(
            self,
            "WorkloadSecurityGroup",
            vpc=vpc,
            description="Dagster code servers and runs: gRPC from the agent only",
            allow_all_outbound=True,
        )
        self.workload_security_group.add_ingress_rule(
            self.agent_security_group,
            ec2.Port.tcp(CODE_SERVER_PORT),
            "Agent to code server gRPC",
        )
        # Dagster+, AWS APIs, the image pull and the secret fetch at task start all use HTTPS over
        # the task's ENI; the only other peer is the code servers.
        self.agent_security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to Dagster+, AWS APIs and the image registry"
        )
        self.agent_security_group.add_egress_rule(
            self.workload_security_group, ec2.Port.tcp(CODE_SERVER_PORT), "gRPC to code servers"
        )

        self.config_document = render_agent_config(
            AgentConfigInputs(
                dagster=dagster,
                agent=agent,
                subnet_count=len(subnet_ids),
                security_group_count=1,
                assign_public_ip=assign_public_ip,
                inherited_env_vars=tuple(sorted(inherited_environment)),
                extra_blocks=extra_config_blocks or {},
            )
        )
        self.config_yaml = to_yaml(self.config_document, environment_name)

        self.task_role = iam.Role(
            self, "TaskRole", assumed_by=ecs_tasks_principal(self), description="Dagster+ agent task role"
        )
        self.execution_role = iam.Role(
            self, "ExecutionRole", assumed_by=ecs_tasks_principal(self), description="Dagster+ agent execution role"
        )
        hosted_zone_id = _hosted_zone_id(namespace)
        for statement in agent_statements(
            self,
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster_arn,
            namespace_arn=namespace.namespace_arn,
            namespace_hosted_zone_id=hosted_zone_id,
            workload_log_group=workload_log_group,
            organization=dagster.organization,
        ):
            self.task_role.add_to_policy(statement)
        self._pass_role = pass_role_statement([workload_execution_role, workload_task_role])
        self.task_role.add_to_policy(self._pass_role)

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=agent.cpu,
            memory_limit_mib=agent.memory,
            task_role=self.task_role,
            execution_role=self.execution_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        environment = {
            ENV_AGENT_CONFIG: self.config_yaml,
            "DAGSTER_HOME": DAGSTER_HOME,
            ENV_CLUSTER: cluster.cluster_name,
            ENV_NAMESPACE_ID: namespace.namespace_id,
            ENV_EXECUTION_ROLE_ARN: workload_execution_role.role_arn,
            ENV_TASK_ROLE_ARN: workload_task_role.role_arn,
            ENV_LOG_GROUP: workload_log_group.log_group_name,
            security_group_env(0): self.workload_security_group.security_group_id,
            **{subnet_env(index): subnet_id for index, subnet_id in enumerate(subnet_ids)},
            **inherited_environment,
        }
        self.container = self.task_definition.add_container(
            "agent",
            image=ecs.ContainerImage.from_registry(agent.image_uri),
            entry_point=["/bin/sh", "-c"],
            command=[START_SCRIPT],
            environment=environment,
            secrets={ENV_AGENT_TOKEN: ecs.Secret.from_secrets_manager(token_secret, field=token_json_field)},
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="agent",
                log_group=agent_log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=Size.mebibytes(25),
            ),
            stop_timeout=STOP_TIMEOUT,
            essential=True,
            health_check=(
                ecs.HealthCheck(
                    command=["CMD-SHELL", f"test -f {READINESS_SENTINEL}"],
                    interval=Duration.seconds(60),
                    start_period=Duration.seconds(300),
                    retries=10,
                    timeout=Duration.seconds(5),
                )
                if agent.zero_downtime_deploys
                else None
            ),
        )

        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=service_name,
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=agent.replicas,
            security_groups=[self.agent_security_group],
            vpc_subnets=subnets,
            assign_public_ip=assign_public_ip,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100 if agent.zero_downtime_deploys else 0,
            max_healthy_percent=200 if agent.zero_downtime_deploys else 100,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            enable_execute_command=agent.enable_ecs_exec,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )

        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "Environment variables hold only non-secret ids (cluster, subnets, roles, log group) and the rendered "
            "dagster.yaml, which references the token by {env:} name; the token itself is an ECS secret.",
        )
        acknowledge_wildcards(
            self.task_role,
            "Each wildcard is the narrowest AWS allows: ECS service/task ARNs of this cluster plus an ecs:cluster "
            "condition, task-definition families the agent names at run time, Cloud Map service ids generated by AWS, "
            "log streams ECS creates, secrets selected by tag condition, and read/list APIs without resource scope.",
        )
        acknowledge_wildcards(
            self.execution_role,
            "ECS creates one log stream per task in the agent log group; the stream ARN wildcard is within that group.",
        )

    def register_code_location(self, location: "DagsterCodeLocation") -> None:
        """Let the agent launch this location: resolve its role references, pass its two roles."""
        for name, value in sorted(location.agent_environment.items()):
            self.container.add_environment(name, value)
        self.allow_passing(location.task_role, location.execution_role)

    def allow_passing(self, *roles: iam.IRole) -> None:
        """Let the agent pass more roles to the tasks it launches (e.g. a code location's own)."""
        for role in roles:
            self._pass_role.add_resources(role.role_arn)


def _selected_subnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> tuple[list[str], bool]:
    """Subnet ids of the selection and whether CDK knows them to be public. Subnets given by object (e.g.
    ``Subnet.from_subnet_id``) are taken as they are: CDK's selection would ask for their availability zones,
    which imported subnets do not have; they count as public when they are among the VPC's public subnets."""
    if selection.subnets:
        public_ids = {subnet.subnet_id for subnet in vpc.public_subnets}
        ids = [subnet.subnet_id for subnet in selection.subnets]
        return ids, any(subnet_id in public_ids for subnet_id in ids)
    selected = vpc.select_subnets(
        availability_zones=selection.availability_zones, one_per_az=selection.one_per_az,
        subnet_filters=selection.subnet_filters, subnet_group_name=selection.subnet_group_name,
        subnet_type=selection.subnet_type,
    )
    return list(selected.subnet_ids), bool(selected.has_public)


def _cluster_and_namespace(
    cluster: "DagsterCluster | ecs.ICluster", namespace: servicediscovery.PrivateDnsNamespace | None
) -> tuple[ecs.ICluster, servicediscovery.PrivateDnsNamespace]:
    if isinstance(cluster, DagsterCluster):
        return cluster.cluster, namespace or cluster.namespace
    if namespace is None:
        raise ValueError("DagsterAgent: with an ecs.ICluster, give namespace (or pass a DagsterCluster)")
    return cluster, namespace


def _hosted_zone_id(namespace: servicediscovery.PrivateDnsNamespace) -> str | None:
    child = namespace.node.default_child
    return getattr(child, "attr_hosted_zone_id", None)
