"""Secrets Manager ARNs and the "secrets carrying a tag" statement, written once."""

from __future__ import annotations

from typing import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def secret_arn(scope: IConstruct, name: str) -> str:
    """ARN of a secret by name; add ``-??????`` to match the random suffix Secrets Manager appends."""
    return Stack.of(scope).format_arn(
        service="secretsmanager", resource="secret", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )


def tagged_secrets_statement(scope: IConstruct, *, sid: str, actions: Sequence[str], tag: str) -> iam.PolicyStatement:
    """``actions`` on any secret of this account and region that carries the tag key ``tag``."""
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=[secret_arn(scope, "*")],
        conditions={"Null": {f"secretsmanager:ResourceTag/{tag}": "false"}},
    )
