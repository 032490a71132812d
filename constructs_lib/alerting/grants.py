"""Let Dagster code publish alerts to a queue it knows only by name (another stack owns it)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

from ..nag import acknowledge_wildcards


def alert_queue_url(scope, queue_name: str) -> str:
    stack = Stack.of(scope)
    return f"https://sqs.{stack.region}.{stack.url_suffix}/{stack.account}/{queue_name}"


def grant_alert_publish(role: iam.Role, *, queue_name: str, key_alias: str) -> None:
    """``sqs:SendMessage`` on the alert queue and the KMS use that an encrypted queue needs."""
    stack = Stack.of(role)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PublishPlatformAlerts",
            actions=["sqs:SendMessage"],
            resources=[stack.format_arn(service="sqs", resource=queue_name)],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="EncryptPlatformAlerts",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
            conditions={
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": key_alias},
                "StringEquals": {"kms:ViaService": f"sqs.{stack.region}.amazonaws.com"},
            },
        )
    )
    acknowledge_wildcards(
        role,
        "The alert queue's key is created in another stack and found by its alias: kms:ResourceAliases and "
        "kms:ViaService conditions limit the key/* wildcard to that one key used through SQS.",
    )
