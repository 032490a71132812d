"""Dagster+ alert webhook: a Lambda Function URL that puts the alert on the relay's SQS queue.

Handler ``handler.handler``; the event is the Function URL payload format 2.0.

- not POST -> 405; missing or wrong ``x-dagster-platform-secret`` header -> 401 (constant-time
  compare against the secret's SecretString); body over 256 KB -> 413; empty body -> 400.
- Otherwise enqueues ``{"source": "dagster_cloud_webhook", "received_at": <ISO 8601 UTC>,
  "body": <parsed JSON, or the raw string when it is not JSON>}`` and answers 202.
- A message larger than the queue accepts -> 413. If the secret cannot be read or the queue
  is unavailable -> 503, so Dagster+ retries.

Replay. Dagster+ webhooks (alert policy notification ``webhook``) are configured with a URL,
static headers and a templated JSON body; Dagster+ cannot compute a signature, so an HMAC over
a timestamp and the body is not possible, and a timestamp in the body is no protection (whoever
replays a captured request holds the shared secret and could as well send a new one). What
protects against replays and Dagster+'s own retries is that they cannot cause a second message
to people: the relay delivers each alert identity once per destination. A body carrying the
alert's id (``"alert_id": "{{alert_id}}"``, or a contract ``dedup_key``) is suppressed for the
14 days the relay keeps its records; a body without one is identified by its content and
suppressed for the dedup window (``alerting.dedup_window_seconds``). Proven in
``tests/relay/test_alert_webhook.py``. The shared secret is compared in constant time.

Environment: ``WEBHOOK_SECRET_ARN`` (Secrets Manager secret holding the shared secret),
``ALERT_QUEUE_URL`` (the relay's queue), ``WEBHOOK_SECRET_TTL_SECONDS`` (optional, default 60:
how long a container caches the secret, so rotation takes effect within a minute),
``POWERTOOLS_SERVICE_NAME``, ``AWS_REGION``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SECRET_HEADER = "x-dagster-platform-secret"
WRAPPER_SOURCE = "dagster_cloud_webhook"
MAX_BODY_BYTES = 256 * 1024
# SQS accepts messages up to 1 MiB; escaping can grow a body, so the real message is checked too.
MAX_QUEUE_MESSAGE_BYTES = 1024 * 1024
DEFAULT_SECRET_TTL_SECONDS = 60.0

logger = Logger()
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)


@dataclass(frozen=True)
class Response:
    status: int
    message: str

    def to_function_url_result(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"message": self.message}),
        }


class SharedSecret:
    """The expected header value, read from Secrets Manager and cached for ``ttl_seconds``."""

    def __init__(
        self,
        secret_id: str,
        client_factory: Callable[[], Any],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret_id = secret_id
        self._client_factory = client_factory
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._cached: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def value(self) -> str:
        now = self._clock()
        cached = self._cached
        if cached is not None and now - cached[0] < self._ttl_seconds:
            return cached[1]
        response = self._client_factory().get_secret_value(SecretId=self._secret_id)
        secret = response.get("SecretString")
        if not isinstance(secret, str) or not secret.strip():
            raise ValueError(f"secret {self._secret_id!r} has no SecretString")
        with self._lock:
            self._cached = (now, secret.strip())
        return secret.strip()

    def matches(self, presented: str | None) -> bool:
        if not presented:
            return False
        # surrogateescape: any header text is comparable (and simply wrong), never an exception.
        offered = presented.strip().encode("utf-8", "surrogateescape")
        return hmac.compare_digest(offered, self.value().encode("utf-8"))


def header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def request_method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else None
    return method.upper() if isinstance(method, str) else ""


def request_body(event: Mapping[str, Any]) -> bytes:
    """The raw body bytes; raises ValueError for invalid base64."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise ValueError("body must be a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"body is not valid base64: {exc}") from None
    return body.encode("utf-8")


def queue_message(body: bytes, received_at: datetime) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text)
    except (ValueError, RecursionError):
        parsed = text
    wrapper = {"source": WRAPPER_SOURCE, "received_at": received_at.isoformat(), "body": parsed}
    # ASCII-only JSON: SQS rejects control characters and lone surrogates, escapes are always valid.
    return json.dumps(wrapper, ensure_ascii=True, separators=(",", ":"))


def _is_message_too_long(error: Exception) -> bool:
    if not isinstance(error, ClientError):
        return False
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    return code.endswith("MessageTooLong") or (
        code.endswith("InvalidParameterValue") and "shorter than" in details.get("Message", "")
    )


class WebhookIngress:
    def __init__(
        self,
        secret: SharedSecret,
        queue_url: str,
        sqs_client_factory: Callable[[], Any],
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._secret = secret
        self._queue_url = queue_url
        self._sqs_client_factory = sqs_client_factory
        self._clock = clock

    def handle(self, event: Mapping[str, Any]) -> Response:
        method = request_method(event)
        if method != "POST":
            return Response(405, f"method {method or 'unknown'} not allowed; use POST")
        try:
            authorized = self._secret.matches(header(event, SECRET_HEADER))
        except (ClientError, BotoCoreError, ValueError) as exc:
            logger.error("cannot read the webhook secret", extra={"error": str(exc)})
            return Response(503, "alert intake is temporarily unavailable")
        if not authorized:
            logger.warning("webhook call with a missing or wrong secret")
            return Response(401, "missing or wrong shared secret")
        raw_body = event.get("body") or ""
        # Checked before decoding too, so a huge payload is not decoded for nothing.
        if isinstance(raw_body, str) and len(raw_body) > 2 * MAX_BODY_BYTES:
            return Response(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = request_body(event)
        except ValueError as exc:
            return Response(400, str(exc))
        if len(body) > MAX_BODY_BYTES:
            return Response(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        if not body.strip():
            return Response(400, "body is empty")
        message = queue_message(body, self._clock())
        if len(message.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES:
            return Response(413, "body is too large once wrapped for the alert queue")
        try:
            result = self._sqs_client_factory().send_message(QueueUrl=self._queue_url, MessageBody=message)
        except (ClientError, BotoCoreError) as exc:
            if _is_message_too_long(exc):
                # Retrying cannot help: the queue's MaximumMessageSize is below this message.
                logger.error("alert is larger than the queue accepts", extra={"message_bytes": len(message)})
                return Response(413, "body is too large for the alert queue")
            logger.error("cannot enqueue the alert", extra={"error": str(exc)})
            return Response(503, "alert could not be queued; retry")
        logger.info("alert queued", extra={"sqs_message_id": result.get("MessageId"), "body_bytes": len(body)})
        return Response(202, "alert accepted")


def _lazy_client(service: str) -> Callable[[], Any]:
    @lru_cache(maxsize=1)
    def factory() -> Any:
        return boto3.client(service, config=_CLIENT_CONFIG)

    return factory


@lru_cache(maxsize=1)
def ingress_from_environment() -> WebhookIngress:
    """The container's ingress: clients and the cached secret live as long as the container."""
    ttl_text = os.environ.get("WEBHOOK_SECRET_TTL_SECONDS", "").strip()
    secret = SharedSecret(
        os.environ["WEBHOOK_SECRET_ARN"],
        _lazy_client("secretsmanager"),
        float(ttl_text) if ttl_text else DEFAULT_SECRET_TTL_SECONDS,
    )
    return WebhookIngress(secret, os.environ["ALERT_QUEUE_URL"], _lazy_client("sqs"))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        return Response(400, "not a Function URL request").to_function_url_result()
    return ingress_from_environment().handle(event).to_function_url_result()
