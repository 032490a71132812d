"""Let Dagster code publish alerts to a queue it knows only by name (another stack owns it)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
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


def allow_alarm_publishing(topic, key, *, alarm_name_prefix: str) -> None:
    """Let CloudWatch alarms of this account whose names start with ``alarm_name_prefix`` publish to ``topic``, and
    use ``key`` (the topic's KMS key, if any) to do so.

    A topic policy replaces SNS's default policy, so CloudWatch needs its own statement; a KMS-encrypted topic also
    needs the same principal in its key policy. ``aws:SourceArn`` and ``aws:SourceAccount`` keep another account's
    alarms (the confused deputy) out.
    """
    stack = Stack.of(topic)
    conditions = {
        "ArnLike": {
            "aws:SourceArn": stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=f"{alarm_name_prefix}*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        },
        "StringEquals": {"aws:SourceAccount": stack.account},
    }
    principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="PlatformAlarmsPublish",
            principals=[principal],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )
    if key is not None:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"PlatformAlarmsPublishTo{topic.node.id}",
                principals=[principal],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions=conditions,
            )
        )
