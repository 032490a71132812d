"""A Dagster code location's AWS side: image repository and its own identity."""

from __future__ import annotations

from typing import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..config import CodeLocationSettings
from ..nag import acknowledge_wildcards
from ..secrets import SecretReference, deny_secrets, secret_arn_prefix, secret_iam_resource, tagged_secrets_statement
from ..workload import ecs_tasks_principal
from .rendering import execution_role_env, render_container_context, repository_name, task_role_env


class CodeLocationRepository(Construct):
    """The ECR repository a code location's CI pushes images to: scan on push, tag immutability
    from settings, a lifecycle rule keeping the last N images, and (when destroyed with its stack)
    emptied first. Stateful: lives in the storage stack.

    Attributes: ``repository``, ``repository_name``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        location_name: str,
        settings: CodeLocationSettings,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """``environment_name``/``location_name``: name the repository ``dagster/<environment>/<location>``.
        ``settings``: the location's settings (``immutable_tags``, ``keep_images``). ``removal_policy``: default
        RETAIN; DESTROY empties the repository first."""
        super().__init__(scope, construct_id)
        self.repository_name = repository_name(environment_name, location_name)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=self.repository_name,
            image_scan_on_push=True,
            image_tag_mutability=(
                ecr.TagMutability.IMMUTABLE if settings.immutable_tags else ecr.TagMutability.MUTABLE
            ),
            encryption=ecr.RepositoryEncryption.AES_256,
            removal_policy=removal_policy,
            empty_on_delete=removal_policy == RemovalPolicy.DESTROY,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Untagged layers of superseded pushes",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                    rule_priority=1,
                ),
                ecr.LifecycleRule(
                    description=f"Keep the last {settings.keep_images} images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=settings.keep_images,
                    rule_priority=2,
                ),
            ],
        )


class DagsterCodeLocation(Construct):
    """A code location's own identity: a task role for its code server and runs (grant your
    data access here, not to the agent) and an execution role that pulls only its repository's
    images, writes to the workload log group and reads only the secrets it names or that carry
    its tags. Also renders its ``container_context.ecs`` for ``dagster_cloud.yaml``.

    The agent must be allowed to pass both roles (``DagsterAgent.allow_passing``) and must carry
    ``agent_environment`` so the ``{env: ...}`` role references resolve.
    Attributes: ``task_role``, ``execution_role``, ``container_context``, ``agent_environment``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        location_name: str,
        settings: CodeLocationSettings,
        repository: ecr.IRepository,
        workload_log_group: logs.ILogGroup,
        shared_secrets_tag: str,
        denied_secret_arns: Sequence[str] = (),
    ) -> None:
        """``environment_name``/``location_name``: name the roles and the rendered tags. ``settings``: resources,
        secrets, env vars, ``alert_team``. ``repository``: the location's images (the execution role pulls only
        these). ``workload_log_group``: where its servers and runs log. ``shared_secrets_tag``: secrets tagged
        ``<tag>=<environment>`` are readable too. ``denied_secret_arns``: explicitly denied (the agent token)."""
        super().__init__(scope, construct_id)
        self.location_name = location_name
        self.settings = settings
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=ecs_tasks_principal(self),
            description=f"Dagster code location {location_name} ({environment_name}): code server and runs",
        )
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=ecs_tasks_principal(self),
            description=f"Dagster code location {location_name} ({environment_name}): ECS execution",
        )
        repository.grant_pull(self.execution_role)
        workload_log_group.grant_write(self.execution_role)

        if settings.secrets:
            self.execution_role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadNamedSecrets",
                    actions=["secretsmanager:GetSecretValue"],
                    # Secrets Manager appends six random characters to every secret ARN.
                    resources=sorted({secret_iam_resource(self, SecretReference.parse(value)) for value in settings.secrets.values()}),
                )
            )
        for index, tag in enumerate(sorted({shared_secrets_tag, *settings.secrets_tags})):
            self.execution_role.add_to_policy(
                tagged_secrets_statement(
                    self,
                    sid=f"ReadSecretsTagged{index}",
                    actions=["secretsmanager:GetSecretValue"],
                    tag=tag,
                    value=environment_name,
                )
            )
        deny_secrets(self.execution_role, self.task_role, arns=denied_secret_arns)
        acknowledge_wildcards(
            self.execution_role,
            "Named secrets end in the six random characters Secrets Manager appends; tagged secrets are chosen "
            "at run time and limited by a ResourceTag condition; ECS creates one log stream per task.",
        )

        stack = Stack.of(self)
        self.container_context = render_container_context(
            environment_name, location_name, settings,
            secret_arn_prefix=secret_arn_prefix(stack.partition, stack.region, stack.account),
        )
        self.agent_environment = {
            task_role_env(location_name): self.task_role.role_arn,
            execution_role_env(location_name): self.execution_role.role_arn,
        }
