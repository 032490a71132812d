"""boto3 clients, created on first use and reused for the life of the Lambda container."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config

from . import fields

logger = Logger(child=True)

# Standard retry mode retries throttling and 5xx; bounded timeouts keep one slow AWS call
# from eating the whole batch's Lambda timeout. DynamoDB, SES and SQS answer in milliseconds.
_CONNECT_TIMEOUT_SECONDS = 1
_READ_TIMEOUT_SECONDS = 3
_MAX_ATTEMPTS = 2
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": _MAX_ATTEMPTS},
    connect_timeout=_CONNECT_TIMEOUT_SECONDS,
    read_timeout=_READ_TIMEOUT_SECONDS,
)
# The longest one AWS call can take: every attempt timing out, plus standard mode's backoff
# (at most 1 s before the second attempt).
AWS_CALL_WORST_SECONDS = _MAX_ATTEMPTS * (_CONNECT_TIMEOUT_SECONDS + _READ_TIMEOUT_SECONDS) + 1
# What an invocation keeps back from its remaining time: after the last budget check a record
# can still make three AWS calls (deliver by SES, record the delivery, release or finish the
# episode) plus one second for the response.
INVOCATION_RESERVE_SECONDS = 3 * AWS_CALL_WORST_SECONDS + 1


class ClientProvider(Protocol):
    def client(self, service: str, region_name: str | None = None) -> Any: ...


class AwsClients:
    """One client per (service, region), created lazily so tests can start moto first."""

    def __init__(self, region_name: str | None = None) -> None:
        self._region_name = region_name
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region_name: str | None = None) -> Any:
        key = (service, region_name or self._region_name)
        existing = self._clients.get(key)
        if existing is not None:
            return existing
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(service, region_name=key[1], config=_CLIENT_CONFIG)
            return self._clients[key]


class EcsTaskTagLookup:
    """Reads an ECS task's tags (``ecs:ListTagsForResource``) for team routing.

    Best effort: missing permission, a task that is already gone or any AWS error yields no
    tags, so the alert goes to the default team instead of failing.
    """

    def __init__(self, clients: ClientProvider) -> None:
        self._clients = clients

    def __call__(self, task_arn: str) -> Mapping[str, str]:
        try:
            response = self._clients.client("ecs", fields.arn_part(task_arn, 3)).list_tags_for_resource(
                resourceArn=task_arn
            )
        except Exception as exc:  # noqa: BLE001 - enrichment only: AccessDenied, a vanished task or any error means no tags
            logger.warning(
                "cannot read ECS task tags; using the default team",
                extra={"task_arn": task_arn, "error": f"{type(exc).__name__}: {exc}"},
            )
            return {}
        tags = response.get("tags", [])
        return {
            tag["key"]: tag["value"]
            for tag in tags
            if isinstance(tag, Mapping) and isinstance(tag.get("key"), str) and isinstance(tag.get("value"), str)
        }
