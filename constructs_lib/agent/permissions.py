"""What the Dagster+ ECS agent may do, scoped as tightly as each AWS API allows.

Exactly the calls dagster-cloud's ECS launcher and dagster-aws's run launcher make, as recorded from the real code
against moto (tests/authz/launcher_calls.py) and evaluated as IAM does (tests/authz/test_authz_agent.py): ECS
services, tasks and task definitions of this cluster and this organization's families, Cloud Map services in this
namespace, the resource-tagging API, secrets listed by tag, log events of failed code servers. Dagster's own template
grants most of these on ``*`` and ``iam:PassRole`` on ``*``.
"""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..log_groups import log_group_arn
from dagster_platform.limits import TAG_ALERT_TEAM

from .agent_config import RUN_TASK_DEFINITION_PREFIX, SERVER_TASK_DEFINITION_PREFIX

#: Tag keys the agent puts on Cloud Map services at create: dagster-cloud's own and the container context's
#: ``server_ecs_tags`` (rendered by the platform).
CODE_SERVER_TAG_KEYS = ("dagster/*", "dagster-platform:*", TAG_ALERT_TEAM)

TASK_DEFINITION_PREFIXES = (SERVER_TASK_DEFINITION_PREFIX, RUN_TASK_DEFINITION_PREFIX)


def sanitize_family(name: str) -> str:
    """As dagster-aws sanitizes family names: letters, digits, ``-`` and ``_`` only."""
    return "".join(char for char in name if char.isascii() and (char.isalnum() or char in "-_"))


#: Actions that AWS does not allow to be scoped to a resource (Service Authorization Reference).
UNSCOPABLE_ACTIONS = (
    "ecs:DescribeTaskDefinition",
    "ecs:ListAccountSettings",
    "tag:GetResources",
    "secretsmanager:ListSecrets",
    "servicediscovery:ListServices",
    "servicediscovery:GetOperation",
)


def agent_statements(
    scope: Construct,
    *,
    cluster_name: str,
    cluster_arn: str,
    namespace_arn: str,
    namespace_hosted_zone_id: str | None,
    workload_log_group: logs.ILogGroup,
    organization: str,
) -> list[iam.PolicyStatement]:
    """The agent's statements. Task definitions are limited to the families dagster-cloud names for this
    organization (``server_<organization>_...`` for code servers, ``run_<organization>_...`` for runs)."""
    stack = Stack.of(scope)

    def ecs_arn(resource: str, name: str) -> str:
        return stack.format_arn(service="ecs", resource=resource, resource_name=name)

    on_this_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}
    services = ecs_arn("service", f"{cluster_name}/*")
    tasks = ecs_arn("task", f"{cluster_name}/*")
    task_definitions = [
        ecs_arn("task-definition", f"{prefix}_{sanitize_family(organization)}_*") for prefix in TASK_DEFINITION_PREFIXES
    ]
    cloud_map_services = stack.format_arn(service="servicediscovery", resource="service", resource_name="*")
    hosted_zone = f"arn:{stack.partition}:route53:::hostedzone/{namespace_hosted_zone_id or '*'}"

    return [
        iam.PolicyStatement(
            sid="ManageCodeServerServicesInThisCluster",
            actions=["ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices"],
            resources=[services],
            conditions=on_this_cluster,
        ),
        iam.PolicyStatement(
            sid="RunTasksInThisCluster",
            actions=["ecs:RunTask"],
            resources=task_definitions,
            conditions=on_this_cluster,
        ),
        iam.PolicyStatement(
            sid="RegisterPlatformTaskDefinitions",
            actions=["ecs:RegisterTaskDefinition"],
            resources=task_definitions,
        ),
        iam.PolicyStatement(
            sid="WatchAndStopTasksInThisCluster",
            actions=["ecs:DescribeTasks", "ecs:StopTask"],
            resources=[tasks],
            conditions=on_this_cluster,
        ),
        iam.PolicyStatement(
            sid="ListInThisCluster",
            actions=["ecs:ListServices", "ecs:ListTasks"],
            resources=["*"],
            conditions=on_this_cluster,
        ),
        iam.PolicyStatement(
            sid="TagWhatTheAgentCreates",
            actions=["ecs:TagResource"],
            resources=[services, tasks, *task_definitions],
            conditions={
                "StringEquals": {"ecs:CreateAction": ["CreateService", "RunTask", "RegisterTaskDefinition"]}
            },
        ),
        iam.PolicyStatement(sid="ApisWithoutResourceScope", actions=list(UNSCOPABLE_ACTIONS), resources=["*"]),
        iam.PolicyStatement(
            # Authorized against the namespace and against the new service: both must be allowed.
            sid="CreateCodeServerDnsInThisNamespace",
            actions=["servicediscovery:CreateService"],
            resources=[namespace_arn, cloud_map_services],
            conditions={"StringEquals": {"servicediscovery:NamespaceArn": namespace_arn}},
        ),
        iam.PolicyStatement(
            sid="ReadThisNamespace",
            actions=["servicediscovery:GetNamespace"],
            resources=[namespace_arn],
        ),
        iam.PolicyStatement(
            sid="ManageCodeServerDnsServices",
            actions=["servicediscovery:DeleteService"],
            resources=[cloud_map_services],
        ),
        iam.PolicyStatement(
            # No resource-level support (Service Authorization Reference): evaluated against "*".
            sid="CodeServerDnsCallsWithoutResourceScope",
            actions=["servicediscovery:ListTagsForResource"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="TagCodeServerDnsServicesOnCreate",
            actions=["servicediscovery:TagResource"],
            resources=["*"],
            conditions={"ForAllValues:StringLike": {"aws:TagKeys": list(CODE_SERVER_TAG_KEYS)}},
        ),
        iam.PolicyStatement(
            # Listed with resource "*" by Cloud Map's permissions reference; the condition keeps it to this account's
            # services whichever way IAM evaluates it.
            sid="ListCodeServerDnsInstances",
            actions=["servicediscovery:ListInstances", "servicediscovery:DeregisterInstance"],
            resources=["*"],
            conditions={"ArnLike": {"servicediscovery:ServiceArn": cloud_map_services}},
        ),
        iam.PolicyStatement(
            # Cloud Map changes the namespace's records on the caller's behalf when it deregisters an instance.
            sid="CodeServerDnsRecords",
            actions=["route53:ChangeResourceRecordSets"],
            resources=[hosted_zone],
        ),
        iam.PolicyStatement(
            sid="ReadFailedCodeServerLogs",
            actions=["logs:GetLogEvents"],
            resources=[log_group_arn(scope, workload_log_group.log_group_name, stream="*")],
        ),
    ]


def pass_role_statement(roles: Sequence[iam.IRole]) -> iam.PolicyStatement:
    """``iam:PassRole`` for exactly these roles, and only to ECS tasks."""
    return iam.PolicyStatement(
        sid="PassOnlyPlatformWorkloadRoles",
        actions=["iam:PassRole"],
        resources=[role.role_arn for role in roles],
        conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    )
