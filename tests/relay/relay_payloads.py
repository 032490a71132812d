"""Builders for the messages the relay consumes, following AWS's documented formats."""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
ALERTS_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:dagster-prod-alerts"
ALERTS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:dagster-prod-alerts"


def fixture(name: str) -> Any:
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def sns_envelope(message: str | dict[str, Any], *, subject: str | None = None, message_id: str | None = None) -> str:
    """The SQS body of an SNS notification delivered to a queue without raw message delivery."""
    message_id = message_id or str(uuid.uuid4())
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": ALERTS_TOPIC_ARN,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2025-11-24T06:40:12.500Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxY"
        "DVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={ALERTS_TOPIC_ARN}:0d6c2a59-0000-4000-8000-000000000000",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return json.dumps(envelope)


def cloudwatch_alarm_body(**overrides: Any) -> str:
    alarm = fixture("cloudwatch_alarm")
    alarm.update(overrides)
    return sns_envelope(alarm, subject=f'ALARM: "{alarm["AlarmName"]}" in US East (N. Virginia)')


def contract_alert(**overrides: Any) -> dict[str, Any]:
    alert = fixture("dagster_run_failure")
    alert.update(overrides)
    return {key: value for key, value in alert.items() if value is not None}


def freshness_alert(lateness_seconds: float, evaluated_at: str, asset_key: str = "analytics/orders") -> dict[str, Any]:
    return {
        "schema": "dagster-platform/alert@1",
        "kind": "freshness",
        "severity": "warning",
        "title": f"Freshness of {asset_key}",
        "occurred_at": evaluated_at,
        "deployment": "prod",
        "asset_key": asset_key,
        "lateness_seconds": lateness_seconds,
        "tags": {"alert_team": "platform"},
    }


@dataclass(frozen=True)
class QueuedMessage:
    body: str
    message_id: str
    receive_count: int = 1


def queued(body: str | dict[str, Any], *, message_id: str | None = None, receive_count: int = 1) -> QueuedMessage:
    text = body if isinstance(body, str) else json.dumps(body)
    return QueuedMessage(text, message_id or str(uuid.uuid4()), receive_count)


def sqs_event(*messages: QueuedMessage) -> dict[str, Any]:
    """A Lambda SQS event, as the event source mapping builds it."""
    now_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": message.message_id,
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": message.body,
                "attributes": {
                    "ApproximateReceiveCount": str(message.receive_count),
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message.body.encode("utf-8", "replace")).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": ALERTS_QUEUE_ARN,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def sqs_event_from_received(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A Lambda SQS event built from real ``ReceiveMessage`` results (moto's queue)."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": ALERTS_QUEUE_ARN,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


@dataclass
class FakeLambdaContext:
    function_name: str = "dagster-prod-alert-relay"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:dagster-prod-alert-relay"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/dagster-prod-alert-relay"
    log_stream_name: str = "2025/11/24/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def invoke(handler_module: Any, *messages: QueuedMessage, **attributes: str) -> dict[str, Any]:
    """The relay handler on one SQS event of ``messages`` (``attributes`` overwrite each record's)."""
    event = sqs_event(*messages)
    for record in event["Records"]:
        record["attributes"].update(attributes)
    return handler_module.handler(event, FakeLambdaContext())


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}
