"""The default identity of code servers and runs that the agent launches."""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from .nag import acknowledge_wildcards
from .secrets import deny_secrets, tagged_secrets_statement


def ecs_tasks_principal(scope: Construct) -> iam.IPrincipal:
    """``ecs-tasks.amazonaws.com``, only on behalf of this account's tasks (no confused deputy)."""
    stack = Stack.of(scope)
    return iam.ServicePrincipal(
        "ecs-tasks.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
        },
    )


class WorkloadRoles(Construct):
    """An execution role (pull images, write logs, read tagged secrets at task start) and a task
    role (what user code may call) for code servers and runs.

    The agent passes these two roles to the tasks it launches, and may pass nothing else.
    Grant your code's AWS access to ``task_role``; allow image pulls with ``allow_pull``.
    Attributes: ``execution_role``, ``task_role``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_group: logs.ILogGroup,
        secrets_tag: str,
        secrets_tag_value: str,
        denied_secret_arns: Sequence[str] = (),
        pullable_repository_arns: Sequence[str] = (),
        description: str = "Dagster code servers and runs",
    ) -> None:
        """``secrets_tag``/``secrets_tag_value``: the execution role reads secrets tagged exactly so.
        ``denied_secret_arns``: secrets both roles are explicitly denied (the agent token), whatever else allows."""
        super().__init__(scope, construct_id)
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=ecs_tasks_principal(self),
            description=f"ECS execution role: {description}",
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=ecs_tasks_principal(self),
            description=f"Task role: {description}",
        )
        log_group.grant_write(self.execution_role)
        self.execution_role.add_to_policy(
            tagged_secrets_statement(
                self,
                sid="ReadSecretsTaggedForCodeLocations",
                actions=["secretsmanager:GetSecretValue"],
                tag=secrets_tag,
                value=secrets_tag_value,
            )
        )
        deny_secrets(self.execution_role, self.task_role, arns=denied_secret_arns)
        if pullable_repository_arns:
            # Code locations not declared in the environment file still pull their images from the platform's
            # repositories; other repositories stay out of reach.
            self.execution_role.add_to_policy(
                iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
            self.execution_role.add_to_policy(
                iam.PolicyStatement(
                    sid="PullPlatformImages",
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                    resources=list(pullable_repository_arns),
                )
            )
        acknowledge_wildcards(
            self.execution_role,
            f"Secrets are chosen by tag at run time (the agent's secrets_tag '{secrets_tag}'); the wildcard "
            "is limited by the ResourceTag condition, and log-stream names are created by ECS per task; images come "
            "from the platform's repositories (dagster/<environment>/*), and the ECR login token has no resource scope.",
        )

    def allow_pull(self, repository: ecr.IRepository) -> None:
        repository.grant_pull(self.execution_role)

