"""The platform's CloudWatch log groups: the agent's, and the one code servers and runs share."""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Aspects, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from .retention import log_retention


def log_group_arn(scope: IConstruct, name: str, *, stream: str | None = None) -> str:
    """ARN of a log group by name (without the trailing ``:*``), or of one of its streams."""
    resource_name = f"{name}:log-stream:{stream}" if stream is not None else name
    return Stack.of(scope).format_arn(
        service="logs", resource="log-group", resource_name=resource_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def logs_key(
    scope: Construct, construct_id: str, *, description: str, removal_policy: RemovalPolicy, group_arns: dict
) -> kms.Key:
    """A rotating key that CloudWatch Logs of this region may use only for the log groups ``group_arns`` names
    (``{"ArnEquals": [arns]}`` or ``{"ArnLike": pattern}``, matched against the ``aws:logs:arn`` encryption context)."""
    key = kms.Key(scope, construct_id, description=description, enable_key_rotation=True, removal_policy=removal_policy)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsForPlatformGroupsOnly",
            principals=[iam.ServicePrincipal(f"logs.{Stack.of(scope).region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={operator: {"kms:EncryptionContext:aws:logs:arn": arns} for operator, arns in group_arns.items()},
        )
    )
    return key


class PlatformLogGroups(Construct):
    """Creates the agent log group and the workload log group (Dagster's ECS launcher sends
    code servers and runs to one ``log_group``, streams ``server_*`` and ``dagsterrun_*``), with
    retention from settings and, optionally, a customer managed KMS key that only CloudWatch Logs
    may use, and only for these two groups.

    Attributes: ``agent``, ``workloads``, ``key`` (None without KMS).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        agent_log_group_name: str,
        workload_log_group_name: str,
        agent_retention_days: int,
        workload_retention_days: int,
        encrypt_with_kms: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        """``agent_log_group_name``/``workload_log_group_name``: the two groups' names. ``*_retention_days``: a
        CloudWatch Logs retention. ``encrypt_with_kms``: a customer managed key only CloudWatch Logs may use, for
        these two groups only. ``removal_policy``: of the groups and key."""
        super().__init__(scope, construct_id)
        self.key: kms.Key | None = None
        if encrypt_with_kms:
            group_arns = [log_group_arn(self, name) for name in (agent_log_group_name, workload_log_group_name)]
            self.key = logs_key(
                self, "Key", description="Encrypts the Dagster platform's log groups", removal_policy=removal_policy,
                group_arns={"ArnEquals": group_arns},
            )
        self.agent = logs.LogGroup(
            self,
            "Agent",
            log_group_name=agent_log_group_name,
            retention=log_retention(agent_retention_days),
            encryption_key=self.key,
            removal_policy=removal_policy,
        )
        self.workloads = logs.LogGroup(
            self,
            "Workloads",
            log_group_name=workload_log_group_name,
            retention=log_retention(workload_retention_days),
            encryption_key=self.key,
            removal_policy=removal_policy,
        )


class EncryptedLogGroups(Construct):
    """Creates a KMS key that CloudWatch Logs may use only for log groups whose names start with ``name_prefix``, and
    puts every log group created under ``scope`` on it. A log group without a name is named by its construct path
    under the prefix (``<prefix>Alerts/RelayLogs``), which is what lets the key policy name them.

    Attributes: ``key``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, name_prefix: str, removal_policy: RemovalPolicy, description: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = logs_key(
            self, "Key", description=description, removal_policy=removal_policy,
            group_arns={"ArnLike": log_group_arn(self, f"{name_prefix}*")},
        )
        Aspects.of(scope).add(_EncryptLogGroups(self.key, name_prefix, scope))


@jsii.implements(IAspect)
class _EncryptLogGroups:
    def __init__(self, key: kms.IKey, name_prefix: str, scope: Construct) -> None:
        self._key = key
        self._prefix = name_prefix
        self._scope_path = scope.node.path

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, logs.CfnLogGroup):
            return
        # Without a name the L2 leaves a token that resolves to nothing (CloudFormation would generate a name).
        if Stack.of(node).resolve(node.log_group_name) is None:
            relative = node.node.path.removeprefix(self._scope_path).strip("/").removesuffix("/Resource")
            node.log_group_name = self._prefix + relative
        node.kms_key_id = self._key.key_arn
