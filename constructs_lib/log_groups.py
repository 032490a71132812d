"""The platform's CloudWatch log groups: the agent's, and the one code servers and runs share."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
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
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key: kms.Key | None = None
        if encrypt_with_kms:
            self.key = kms.Key(
                self,
                "Key",
                description="Encrypts the Dagster platform's log groups",
                enable_key_rotation=True,
                removal_policy=removal_policy,
            )
            group_arns = [log_group_arn(self, name) for name in (agent_log_group_name, workload_log_group_name)]
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="CloudWatchLogsForPlatformGroupsOnly",
                    principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                    actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    resources=["*"],
                    conditions={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group_arns}},
                )
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
