"""Secrets Manager ARNs, references as ECS reads them, and the "secrets carrying a tag" statement, written once."""

from __future__ import annotations

from typing import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from .secrets_reference import SecretReference, secret_arn_prefix

__all__ = ["SecretReference", "deny_secrets", "secret_arn", "secret_arn_prefix", "secret_iam_resource", "tagged_secrets_statement"]

def secret_iam_resource(scope: IConstruct, reference: SecretReference) -> str:
    """What a policy names to allow reading a secret: its full ARN, or its name with the random suffix wildcarded."""
    return reference.arn or secret_arn(scope, f"{reference.name}-??????")


def secret_arn(scope: IConstruct, name: str) -> str:
    """ARN of a secret by name; add ``-??????`` to match the random suffix Secrets Manager appends."""
    return Stack.of(scope).format_arn(
        service="secretsmanager", resource="secret", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def tagged_secrets_statement(
    scope: IConstruct, *, sid: str, actions: Sequence[str], tag: str, value: str
) -> iam.PolicyStatement:
    """``actions`` on any secret of this account and region tagged ``tag=value`` (key and value: a secret tagged
    for another environment, or with the key alone, stays out)."""
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[secret_arn(scope, "*")],
        conditions={"StringEquals": {f"aws:ResourceTag/{tag}": value}},
    )


def deny_secrets(*roles: iam.IRole, arns: Sequence[str]) -> None:
    """An explicit deny that no allow (a tag, a wildcard) can override, e.g. the agent token for workload roles.
    ``arns`` may be partial (no random suffix): the trailing ``*`` covers the suffix."""
    if not arns:
        return
    for role in roles:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="NeverReadPlatformSecrets",
                effect=iam.Effect.DENY,
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[f"{arn}*" for arn in arns],
            )
        )
