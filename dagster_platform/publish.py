"""Publish contract alerts to the platform's alert relay: an SQS queue (preferred) or an SNS topic.

The platform sets ``DAGSTER_PLATFORM_ALERT_QUEUE_URL`` (or ``DAGSTER_PLATFORM_ALERT_TOPIC_ARN``)
in the code location's container. The boto3 client is created on first publish, with the region
taken from the queue URL or topic ARN. Every failure raises :class:`AlertPublishError`, so the
sensor tick that published fails visibly and its cursor does not advance (delivery is
at-least-once; each alert carries a ``dedup_key``).

IAM for the code location's task role: ``sqs:SendMessage`` on the queue (``SendMessageBatch``
is authorized by ``sqs:SendMessage``), plus ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the
queue's key when it is encrypted with a customer managed KMS key. For SNS: ``sns:Publish`` on the
topic (also covers ``PublishBatch``), plus the same KMS actions for an encrypted topic.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dagster_platform.alert_contract import DagsterAlert, alert_team, parse_alert

if TYPE_CHECKING:
    from botocore.client import BaseClient

ENV_QUEUE_URL = "DAGSTER_PLATFORM_ALERT_QUEUE_URL"
ENV_TOPIC_ARN = "DAGSTER_PLATFORM_ALERT_TOPIC_ARN"

#: A tick must fail well within Dagster's sensor evaluation timeout (60 s by default) when the queue
#: is unreachable or silent, rather than hang: worst case per request about 3 x (5 + 10) s.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 3

#: SQS and SNS batch limits: 10 entries; stay well under the 256 KiB per-request payload limit.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 240 * 1024

_SQS_REGION = re.compile(
    r"^https://(?:sqs\.([a-z0-9-]+)\.amazonaws\.com|([a-z0-9-]+)\.queue\.amazonaws\.com)(?:\.cn)?/"
)


class AlertPublishError(RuntimeError):
    """An alert could not be handed to the relay; the sensor tick must fail."""


class AlertPublisher(Protocol):
    def publish(self, alerts: Sequence[DagsterAlert]) -> None: ...


def encode(alert: DagsterAlert) -> str:
    """The alert's JSON, validated against the contract the relay enforces."""
    body = alert.to_json()
    parse_alert(json.loads(body))  # a builder bug must fail here, not be dropped by the relay
    return body


def _attributes(alert: DagsterAlert) -> dict[str, dict[str, str]]:
    """Message attributes for subscription filters and queue tooling; the body stays authoritative."""
    attributes = {
        "kind": {"DataType": "String", "StringValue": alert.kind},
        "severity": {"DataType": "String", "StringValue": alert.severity},
    }
    team = alert_team(alert)
    if team:
        attributes["team"] = {"DataType": "String", "StringValue": team}
    return attributes


def _batches(bodies: Sequence[tuple[DagsterAlert, str]]) -> list[list[tuple[DagsterAlert, str]]]:
    batches: list[list[tuple[DagsterAlert, str]]] = []
    current: list[tuple[DagsterAlert, str]] = []
    size = 0
    for alert, body in bodies:
        body_size = len(body.encode("utf-8"))
        if body_size > MAX_BATCH_BYTES:
            raise AlertPublishError(
                f"alert {alert.dedup_key!r} is {body_size} bytes; at most {MAX_BATCH_BYTES} allowed"
            )
        if current and (len(current) == MAX_BATCH_ENTRIES or size + body_size > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append((alert, body))
        size += body_size
    if current:
        batches.append(current)
    return batches


def _raise_for_failed(
    destination: str, response: Mapping[str, Any], batch: Sequence[tuple[DagsterAlert, str]]
) -> None:
    failed = response.get("Failed") or []
    if failed:
        details = "; ".join(
            f"{batch[int(item['Id'])][0].dedup_key}: {item.get('Code', '?')} {item.get('Message', '')}".strip()
            for item in failed
        )
        raise AlertPublishError(f"{len(failed)} alert(s) not accepted by {destination}: {details}")


def _client(service: str, region: str | None) -> BaseClient:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client(service, region_name=region, config=config)


class SqsAlertPublisher:
    def __init__(self, queue_url: str, *, client: BaseClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client
        self.fifo = queue_url.endswith(".fifo")

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            match = _SQS_REGION.match(self.queue_url)
            region = (match.group(1) or match.group(2)) if match else None
            self._client = _client("sqs", region)
        return self._client

    def publish(self, alerts: Sequence[DagsterAlert]) -> None:
        encoded = [(alert, encode(alert)) for alert in alerts]
        for batch in _batches(encoded):
            entries = [self._entry(index, alert, body) for index, (alert, body) in enumerate(batch)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # botocore raises many types; all mean "not delivered"
                raise AlertPublishError(f"cannot send alerts to SQS queue {self.queue_url}: {exc}") from exc
            _raise_for_failed(f"SQS queue {self.queue_url}", response, batch)

    def _entry(self, index: int, alert: DagsterAlert, body: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": body,
            "MessageAttributes": _attributes(alert),
        }
        if self.fifo:
            # one ordered group per incident; identical bodies resent by a retried tick are dropped
            entry["MessageGroupId"] = _digest(alert.dedup_key or alert.kind)
            entry["MessageDeduplicationId"] = _digest(body)
        return entry


class SnsAlertPublisher:
    def __init__(self, topic_arn: str, *, client: BaseClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client
        self.fifo = topic_arn.endswith(".fifo")

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            parts = self.topic_arn.split(":")
            region = parts[3] if len(parts) > 5 and parts[3] else None
            self._client = _client("sns", region)
        return self._client

    def publish(self, alerts: Sequence[DagsterAlert]) -> None:
        encoded = [(alert, encode(alert)) for alert in alerts]
        for batch in _batches(encoded):
            entries = []
            for index, (alert, body) in enumerate(batch):
                entry: dict[str, Any] = {
                    "Id": str(index),
                    "Message": body,
                    "MessageAttributes": _attributes(alert),
                }
                if self.fifo:
                    entry["MessageGroupId"] = _digest(alert.dedup_key or alert.kind)
                    entry["MessageDeduplicationId"] = _digest(body)
                entries.append(entry)
            try:
                response = self.client.publish_batch(
                    TopicArn=self.topic_arn, PublishBatchRequestEntries=entries
                )
            except Exception as exc:
                raise AlertPublishError(
                    f"cannot publish alerts to SNS topic {self.topic_arn}: {exc}"
                ) from exc
            _raise_for_failed(f"SNS topic {self.topic_arn}", response, batch)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:64]


def publisher_from_environment(environ: Mapping[str, str] | None = None) -> AlertPublisher:
    """The relay's queue if set (preferred), else its topic; neither set is an error."""
    env = os.environ if environ is None else environ
    return _cached_publisher(env.get(ENV_QUEUE_URL, "").strip(), env.get(ENV_TOPIC_ARN, "").strip())


@functools.lru_cache(maxsize=4)
def _cached_publisher(queue_url: str, topic_arn: str) -> AlertPublisher:
    """One publisher (and boto3 client) per destination for the life of the code server."""
    if queue_url:
        return SqsAlertPublisher(queue_url)
    if topic_arn:
        return SnsAlertPublisher(topic_arn)
    raise AlertPublishError(
        f"no alert destination: set {ENV_QUEUE_URL} (preferred) or {ENV_TOPIC_ARN} in the code location's environment"
    )
