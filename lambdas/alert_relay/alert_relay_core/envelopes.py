"""Turn one SQS message body into exactly one parsed alert (or a deliberate non-alert).

Envelopes recognised, in order:

1. SNS notification (subscription without raw delivery): ``Type == "Notification"`` with
   ``TopicArn`` and ``Message``. The ``Message`` is read again with these same rules (so an
   SNS notification inside an SNS notification, e.g. a topic fanned out through another, is
   unwrapped, up to ``MAX_SNS_NESTING`` levels), or relayed as a plain SNS message.
2. Dagster+ webhook wrapper: ``{"source": "dagster_cloud_webhook", "received_at", "body"}``.
3. Contract alert published directly by Dagster code: an object with ``schema``.
4. A CloudWatch alarm or an SES notification on its own: what the queue receives from a topic
   subscription with raw message delivery enabled.
5. EventBridge event (``detail-type`` + ``detail``): ``ECS Task State Change`` from ``aws.ecs``.

Anything else, and anything that fails its parser (not JSON, wrong shape, fails the alert
contract), becomes a ``raw`` alert for the default team that carries the parse error and a
truncated copy of the body. Parsing never raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import fields
from .alerts import (
    KIND_UNPARSEABLE,
    SOURCE_DAGSTER,
    SOURCE_DAGSTER_CLOUD_WEBHOOK,
    SOURCE_RAW,
    SOURCE_SNS,
    IgnoredMessage,
    ParsedAlert,
    content_dedup_key,
    normalize_timestamp,
    stable_dedup_key,
    truncate,
)
from .aws_events import (
    is_cloudwatch_alarm,
    is_ecs_task_state_change,
    is_ses_notification,
    parse_cloudwatch_alarm,
    parse_ecs_task_state_change,
    parse_ses_notification,
)
from .dagster_events import is_contract_alert, parse_contract_alert, parse_dagster_cloud_webhook
from .errors import EnvelopeError

ParseResult = ParsedAlert | IgnoredMessage

RAW_BODY_EXCERPT_CHARS = 4000
MAX_SNS_NESTING = 3
_SNS_DETAILS_CHARS = 8000
_MAX_ERROR_CHARS = 1000


def parse_message(body: str, *, received_at: str) -> ParseResult:
    """Parse an SQS message body. ``received_at`` (ISO 8601) stands in for missing timestamps."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return raw_alert(body, f"message body is not JSON: {exc}", received_at=received_at)
    try:
        return _parse_payload(payload, received_at)
    except Exception as exc:  # noqa: BLE001 - untrusted input: any parser failure must become a raw alert
        return raw_alert(body, f"{type(exc).__name__}: {exc}", received_at=received_at)


def raw_alert(body: str, error: str, *, received_at: str) -> ParsedAlert:
    return ParsedAlert(
        source=SOURCE_RAW,
        kind=KIND_UNPARSEABLE,
        severity="error",
        title="Alert relay received a message it cannot read",
        details=(
            f"Parse error: {truncate(error, _MAX_ERROR_CHARS)}\n\n"
            f"Raw message ({len(body)} characters):\n{truncate(body, RAW_BODY_EXCERPT_CHARS)}"
        ),
        dedup_key=content_dedup_key("raw", body),
        occurred_at=received_at,
    )


def _parse_payload(payload: Any, received_at: str) -> ParseResult:
    if not isinstance(payload, Mapping):
        raise EnvelopeError(f"message is a JSON {type(payload).__name__}, not an object")
    parsed = _parse_known(payload, received_at, depth=0)
    if parsed is not None:
        return parsed
    keys = ", ".join(sorted(str(key) for key in payload)[:20])
    raise EnvelopeError(f"JSON object matches no known envelope (keys: {keys or 'none'})")


def _parse_known(payload: Mapping[str, Any], received_at: str, depth: int) -> ParseResult | None:
    """The alert in a recognised envelope, or None when the object is none of them."""
    if payload.get("Type") == "Notification" and "TopicArn" in payload and "Message" in payload:
        if depth >= MAX_SNS_NESTING:
            raise EnvelopeError(f"SNS notifications nested more than {MAX_SNS_NESTING} deep")
        return _parse_sns_notification(payload, received_at, depth + 1)
    if payload.get("source") == SOURCE_DAGSTER_CLOUD_WEBHOOK and "body" in payload:
        return parse_dagster_cloud_webhook(payload, fallback_time=received_at)
    if is_contract_alert(payload):
        return parse_contract_alert(payload, source=SOURCE_DAGSTER)
    if is_cloudwatch_alarm(payload):
        return parse_cloudwatch_alarm(payload, fallback_time=received_at)
    if is_ses_notification(payload):
        return parse_ses_notification(payload, fallback_time=received_at)
    if "detail-type" in payload and "detail" in payload:
        return _parse_eventbridge_event(payload, received_at)
    return None


def _parse_eventbridge_event(event: Mapping[str, Any], received_at: str) -> ParseResult:
    if is_ecs_task_state_change(event):
        return parse_ecs_task_state_change(event, fallback_time=received_at)
    raise EnvelopeError(
        f"unsupported EventBridge event: source={event.get('source')!r} detail-type={event.get('detail-type')!r}"
    )


def _parse_sns_notification(envelope: Mapping[str, Any], received_at: str, depth: int) -> ParseResult:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise EnvelopeError("SNS notification 'Message' must be a string")
    published_at = normalize_timestamp(envelope.get("Timestamp"), received_at)
    inner = _json_object_or_none(message)
    if inner is not None:
        parsed = _parse_known(inner, published_at, depth)
        if parsed is not None:
            return parsed
    return _plain_sns_message(envelope, message, inner, published_at)


def _plain_sns_message(
    envelope: Mapping[str, Any], message: str, inner: Mapping[str, Any] | None, published_at: str
) -> ParsedAlert:
    topic_arn = fields.text(envelope, "TopicArn")
    topic = fields.arn_resource_name(topic_arn) or "unknown topic"
    subject = fields.text(envelope, "Subject")
    body_text = json.dumps(inner, indent=2, sort_keys=True, default=str) if inner is not None else message
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    title = subject or (first_line if inner is None and first_line else f"Message on SNS topic {topic}")
    message_id = fields.text(envelope, "MessageId")
    return ParsedAlert(
        source=SOURCE_SNS,
        kind="sns_message",
        severity="warning",
        title=truncate(title, 300),
        details=truncate(body_text, _SNS_DETAILS_CHARS),
        dedup_key=stable_dedup_key("sns", message_id) if message_id else content_dedup_key("sns", message),
        occurred_at=published_at,
        facts=tuple((label, value) for label, value in (("Topic", topic), ("Subject", subject)) if value),
    )


def _json_object_or_none(text: str) -> Mapping[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, Mapping) else None
