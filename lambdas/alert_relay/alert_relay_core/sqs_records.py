"""Reading the attributes of an SQS record defensively, and delaying its retry.

Attributes come from SQS, but a value that cannot be used (a ``SentTimestamp`` that is not a
number, or is years away) must not fail the record on every receive until it is dead-lettered:
it is replaced by the current time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger

from . import fields
from .alerts import MAX_CLOCK_AHEAD_SECONDS
from .aws import ClientProvider

logger = Logger(child=True)

# SQS keeps a message at most 14 days; an older SentTimestamp is not one SQS wrote.
_MAX_MESSAGE_AGE_SECONDS = 15 * 24 * 3600
# ChangeMessageVisibility accepts 0 to 43200 seconds.
MAX_VISIBILITY_SECONDS = 43200


def receive_count(value: object) -> int | None:
    """``ApproximateReceiveCount`` for the logs; None when it is not a number."""
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10 else None


def sent_at(sent_timestamp_ms: object, now: float | None = None) -> str | None:
    """ISO 8601 of ``SentTimestamp`` (epoch milliseconds); None when absent or implausible."""
    if not isinstance(sent_timestamp_ms, str) or not sent_timestamp_ms.isdigit() or len(sent_timestamp_ms) > 16:
        return None
    now = time.time() if now is None else now
    seconds = int(sent_timestamp_ms) / 1000
    if not now - _MAX_MESSAGE_AGE_SECONDS <= seconds <= now + MAX_CLOCK_AHEAD_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def queue_url(event_source_arn: str | None) -> str | None:
    """``arn:aws:sqs:<region>:<account>:<name>`` -> the queue URL."""
    region, account, name = (fields.arn_part(event_source_arn, index) for index in (3, 4, 5))
    if not (region and account and name) or fields.arn_part(event_source_arn, 2) != "sqs":
        return None
    partition = fields.arn_part(event_source_arn, 1)
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


def delay_retry(clients: ClientProvider, record: Mapping[str, Any], seconds: float) -> None:
    """Keep a failed record invisible for ``seconds`` (a destination's Retry-After).

    Best effort: if the visibility cannot be changed, the queue's own visibility timeout
    applies, which only makes the retry earlier or later, never loses the record.
    """
    url = queue_url(record.get("eventSourceARN"))
    handle = record.get("receiptHandle")
    if url is None or not isinstance(handle, str):
        return
    visibility = max(0, min(MAX_VISIBILITY_SECONDS, int(seconds + 0.999)))
    region = fields.arn_part(record.get("eventSourceARN"), 3)
    try:
        clients.client("sqs", region).change_message_visibility(
            QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=visibility
        )
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.warning(
            "cannot delay the retry as the destination asked", extra={"error": f"{type(exc).__name__}: {exc}"}
        )
