"""The relay's data model: what an ingress envelope parses into, and the routed alert."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

SEVERITIES = ("critical", "error", "warning", "info")

SOURCE_CLOUDWATCH_ALARM = "cloudwatch_alarm"
SOURCE_SES_NOTIFICATION = "ses_notification"
SOURCE_ECS_TASK = "ecs_task"
SOURCE_DAGSTER = "dagster"
SOURCE_DAGSTER_CLOUD_WEBHOOK = "dagster_cloud_webhook"
SOURCE_SNS = "sns"
SOURCE_RAW = "raw"

KIND_FRESHNESS = "freshness"
KIND_UNPARSEABLE = "unparseable_message"

# DynamoDB keys are at most 2048 bytes; long producer-chosen keys are hashed instead.
_MAX_DEDUP_KEY_CHARS = 256
# A producer's clock may run this far ahead of the receive time before its timestamps are
# replaced by the receive time (AWS and Dagster hosts are NTP-synchronised; minutes is plenty).
MAX_CLOCK_AHEAD_SECONDS = 300.0

# Who sent an alert, in words for the people who read it (the internal names stay in the logs).
SOURCE_LABELS = {
    "cloudwatch_alarm": "CloudWatch alarm",
    "ses_notification": "Amazon SES notification",
    "ecs_task": "ECS task state change",
    "dagster": "Dagster (platform alert sensor)",
    "dagster_cloud_webhook": "Dagster+ alert policy",
    "sns": "SNS message",
    "raw": "Unreadable message (shown as received)",
}


@dataclass(frozen=True)
class AlertLink:
    label: str
    url: str


@dataclass(frozen=True)
class FreshnessEvaluation:
    """One lateness measurement of an asset; the relay alerts only on SLA threshold crossings."""

    deployment: str
    asset_key: str
    lateness_seconds: float


@dataclass(frozen=True)
class ParsedAlert:
    """An ingress message parsed into the relay's vocabulary, before a team is chosen.

    ``requested_team`` is the team the message itself names (None when it names none);
    ``ecs_task_arn`` asks routing to look for an ``alert_team`` tag on that task;
    ``email_exclusions`` are addresses that must not receive this alert (bounced ones,
    so that an SES bounce about an alert email cannot bounce again in a loop).
    """

    source: str
    kind: str
    severity: str
    title: str
    details: str
    dedup_key: str
    occurred_at: str
    links: tuple[AlertLink, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    requested_team: str | None = None
    ecs_task_arn: str | None = None
    freshness: FreshnessEvaluation | None = None
    email_exclusions: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class IgnoredMessage:
    """A well-formed message that is deliberately not an alert (e.g. a clean ECS task exit)."""

    source: str
    reason: str


@dataclass(frozen=True)
class NormalizedAlert:
    """A parsed alert with its team resolved; what renderers and destinations consume."""

    source: str
    kind: str
    severity: str
    team: str
    title: str
    details: str
    links: tuple[AlertLink, ...]
    dedup_key: str
    occurred_at: str
    environment: str
    facts: tuple[tuple[str, str], ...] = ()
    routing_notes: tuple[str, ...] = ()
    freshness: FreshnessEvaluation | None = None
    email_exclusions: frozenset[str] = field(default_factory=frozenset)


def _sha256(text: str) -> str:
    # surrogatepass: a lone surrogate (valid in a JSON string) hashes instead of raising.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stable_dedup_key(prefix: str, *parts: str) -> str:
    """``prefix:part1:part2``, hashed when it is long or not plain text.

    The key is the alert's identity in DynamoDB and in the logs, so it must encode as UTF-8
    (no lone surrogates, no control characters) and stay far below DynamoDB's 2048-byte key limit.
    """
    key = ":".join((prefix, *parts))
    if len(key) <= _MAX_DEDUP_KEY_CHARS and printable(key) == key:
        return key
    return f"{prefix}:sha256:{_sha256(key)}"


def content_dedup_key(prefix: str, content: str) -> str:
    """For messages without an identity of their own: a key equal exactly when the content is."""
    return f"{prefix}:{_CONTENT_MARKER}:{_sha256(content)}"


_CONTENT_MARKER = "content-sha256"


def is_content_identity(dedup_key: str) -> bool:
    """Whether the key is a hash of the content (``content_dedup_key``) rather than an identity
    the sender gave the event (an alarm state change, a task, a run, a message id).

    The same content can be a new event later (a disk is full again), so such keys are only
    suppressed for the dedup window; a sender's identity is suppressed as long as it is recorded.
    """
    parts = dedup_key.split(":")
    return len(parts) == 3 and parts[1] == _CONTENT_MARKER and len(parts[2]) == 64


# C0 control characters other than tab/newline/carriage return, and DEL: SES and chat
# clients reject or mangle them, and a raw body can contain anything. Lone surrogates (a JSON
# string may hold "\ud83d" alone) cannot be encoded as UTF-8, so boto3 and SES would fail on
# them on every retry; they become U+FFFD too.
_CONTROL_RANGES = ((0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x7F), (0xD800, 0xDFFF))
_CONTROL_CHARACTERS = {code: "\ufffd" for first, last in _CONTROL_RANGES for code in range(first, last + 1)}
# Searching is several times faster than translating, and almost every text is clean.
_HAS_CONTROL_CHARACTER = re.compile(
    "[" + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in _CONTROL_RANGES) + "]"
)


def printable(text: str) -> str:
    return text.translate(_CONTROL_CHARACTERS) if _HAS_CONTROL_CHARACTER.search(text) else text


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = f"... [truncated, {len(text) - limit} more characters]"
    return text[: max(0, limit - len(marker))] + marker


def normalize_timestamp(value: object, fallback: str) -> str:
    """ISO 8601 in UTC for any timestamp AWS or Dagster sends; ``fallback`` when there is none."""
    if not isinstance(value, str) or not value.strip():
        return fallback
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value.strip()[:64]
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc).isoformat()
    except OverflowError:  # e.g. year 1 with a positive offset
        return value.strip()[:64]


def timestamp_epoch(value: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def iso_from_epoch(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat()


@functools.lru_cache(maxsize=256)  # every channel of an alert shows its time
def readable_time(value: str) -> str:
    """``2025-11-24T06:40:12.345000+00:00`` -> ``2025-11-24 06:40:12 UTC``; other text unchanged."""
    epoch = timestamp_epoch(value)
    if epoch is None:
        return value
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return value


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
