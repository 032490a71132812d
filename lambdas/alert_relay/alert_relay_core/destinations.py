"""The edge: deliver a routed alert by SES email, Slack webhook or Microsoft Teams webhook.

Webhook URLs are credentials: they are read from Secrets Manager (the SecretString is the
URL, or a JSON object with ``url``/``webhook_url``), cached per container, and never logged
or put in an error message. Only ``https://`` URLs are used, plus ``http://127.0.0.1`` and
``http://localhost`` for local tests.
"""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from . import http_post, render
from .alerts import NormalizedAlert
from .aws import ClientProvider
from .budget import Budget
from .errors import DeliveryError
from .routes import RoutesConfig, TeamRoute

SECRET_CACHE_SECONDS = 300.0
_USER_AGENT = "dagster-platform-alert-relay/1"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_ERROR_BODY_CHARS = 300
# 429 without Retry-After: Slack documents Retry-After on every 429, so this is a fallback.
DEFAULT_429_WAIT_SECONDS = 30.0
# SQS keeps a message invisible for at most 12 hours.
MAX_RETRY_AFTER_SECONDS = 12 * 3600.0
# Waits up to this long are slept within the invocation (if its budget allows), once.
MAX_INLINE_RETRY_WAIT_SECONDS = 5.0


class Destination(Protocol):
    @property
    def destination_id(self) -> str: ...

    def deliver(self, alert: NormalizedAlert, budget: Budget) -> None:
        """Deliver or raise DeliveryError; never run past ``budget``."""


class JsonPoster(Protocol):
    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str, deadline: float) -> None:
        """POST the payload before ``deadline`` (time.monotonic); raise DeliveryError unless the answer is 2xx."""


@functools.lru_cache(maxsize=64)  # a container posts to a handful of webhooks, thousands of times
def _scheme_and_host(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname


def check_webhook_url(url: str, destination_id: str) -> str:
    scheme, host = _scheme_and_host(url)
    if scheme == "https" and host:
        return url
    if scheme == "http" and host in _LOOPBACK_HOSTS:
        return url
    raise DeliveryError(destination_id, f"webhook URL must be https:// (got scheme {scheme or 'none'!r})")


class HttpJsonPoster:
    """POSTs the JSON exactly as ``render.encode_json`` measures it, within a total deadline.

    ``timeout_seconds`` bounds the whole request (connect, TLS, sending, the answer), not each
    read. Any non-2xx, timeout or socket error raises DeliveryError; 3xx is not followed. After
    a 429 (or 503) with ``Retry-After``, later posts to the same URL in this container fail at
    once with the remaining wait, instead of hammering the webhook.
    """

    def __init__(self, timeout_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._throttled_until: dict[str, float] = {}

    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str = "webhook", deadline: float) -> None:
        host = _scheme_and_host(url)[1] or "webhook"
        now = self._clock()
        throttled_until = self._throttled_until.get(url, 0.0)
        if throttled_until > now:
            wait = throttled_until - now
            raise DeliveryError(destination_id, f"{host} asked to wait {wait:.0f} s (Retry-After)", retry_after=wait)
        deadline = min(deadline, now + self.timeout_seconds)
        try:
            answer = http_post.post(
                url,
                render.encode_json(payload),
                {"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT},
                deadline=deadline,
                per_operation_timeout=self.timeout_seconds,
            )
        except http_post.DeadlineExceeded:
            raise DeliveryError(
                destination_id, f"POST to {host} timed out: no complete answer within {self.timeout_seconds:g} s"
            ) from None
        except (TimeoutError, ConnectionError) as exc:
            raise DeliveryError(destination_id, f"POST to {host} failed: {_describe(exc)}") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            # Only the type: these messages can quote the URL, and the URL is a credential.
            raise DeliveryError(destination_id, f"POST to {host} failed: {type(exc).__name__}") from None
        if 200 <= answer.status < 300:
            return
        excerpt = answer.body_excerpt[:_ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
        reason = f"{host} answered HTTP {answer.status}" + (f": {excerpt}" if excerpt else "")
        retry_after = answer.retry_after if answer.status in (429, 503) else None
        if answer.status == 429 and retry_after is None:
            retry_after = DEFAULT_429_WAIT_SECONDS
        if retry_after is not None:
            retry_after = min(retry_after, MAX_RETRY_AFTER_SECONDS)
            self._throttled_until[url] = self._clock() + retry_after
        raise DeliveryError(destination_id, reason, retry_after=retry_after)


def _describe(reason: object) -> str:
    """Socket-level reasons (timeouts, refused connections, DNS) never contain the URL path."""
    if isinstance(reason, OSError):
        return f"{type(reason).__name__}: {reason}"
    return type(reason).__name__ if not isinstance(reason, str) else reason.split(":", 1)[0]


class SecretCache:
    """SecretString values by secret name/ARN, cached for ``ttl_seconds``."""

    def __init__(
        self,
        clients: ClientProvider,
        ttl_seconds: float = SECRET_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str, destination_id: str) -> str:
        now = self._clock()
        cached = self._values.get(secret_id)
        if cached is not None and now - cached[0] < self._ttl_seconds:
            return cached[1]
        try:
            response = self._clients.client("secretsmanager").get_secret_value(SecretId=secret_id)
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryError(destination_id, f"cannot read secret {secret_id!r}: {exc}") from None
        value = response.get("SecretString")
        if not isinstance(value, str) or not value.strip():
            raise DeliveryError(destination_id, f"secret {secret_id!r} has no SecretString")
        with self._lock:
            self._values[secret_id] = (now, value)
        return value

    def invalidate(self, secret_id: str) -> None:
        """Forget a value, e.g. after the webhook rejected it, so a rotated secret is picked up."""
        with self._lock:
            self._values.pop(secret_id, None)


def webhook_url_from_secret(secret_string: str) -> str:
    text = secret_string.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return text
        if isinstance(document, dict):
            for key in ("url", "webhook_url"):
                url = document.get(key)
                if isinstance(url, str):
                    return url.strip()
    return text


@dataclass(frozen=True)
class EmailDestination:
    ses_clients: ClientProvider
    sender: str
    recipients: tuple[str, ...]
    configuration_set: str | None = None
    destination_id: str = "email"

    def deliver(self, alert: NormalizedAlert, budget: Budget) -> None:
        budget.check(f"{self.destination_id} delivery")
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": list(self.recipients)},
            "Content": {
                "Simple": {
                    "Subject": {"Data": render.email_subject(alert), "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": render.email_text(alert), "Charset": "UTF-8"},
                        "Html": {"Data": render.email_html(alert), "Charset": "UTF-8"},
                    },
                }
            },
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            self.ses_clients.client("sesv2").send_email(**request)
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryError(self.destination_id, f"SES send_email failed: {exc}") from None


@dataclass(frozen=True)
class WebhookDestination:
    destination_id: str
    secret_id: str
    secrets: SecretCache
    poster: JsonPoster
    build_payload: Callable[[NormalizedAlert], dict[str, Any]]

    sleep: Callable[[float], None] = time.sleep

    def deliver(self, alert: NormalizedAlert, budget: Budget) -> None:
        budget.check(f"{self.destination_id} delivery")
        url = check_webhook_url(
            webhook_url_from_secret(self.secrets.get(self.secret_id, self.destination_id)), self.destination_id
        )
        payload = self.build_payload(alert)
        try:
            self._post(url, payload, budget)
        except DeliveryError as exc:
            wait = exc.retry_after
            if wait is None or wait > MAX_INLINE_RETRY_WAIT_SECONDS or budget.remaining() < wait + 1.0:
                raise
            # A short Retry-After is honoured here, once, within the invocation's budget; a
            # longer one by keeping the SQS record invisible for that long (see the handler).
            self.sleep(wait)
            budget.check(f"{self.destination_id} delivery after Retry-After")
            self._post(url, payload, budget)

    def _post(self, url: str, payload: dict[str, Any], budget: Budget) -> None:
        try:
            self.poster.post_json(
                url, payload, destination_id=self.destination_id, deadline=budget.deadline_for(float("inf"))
            )
        except DeliveryError as exc:
            if exc.retry_after is None:  # a revoked or rotated webhook: read the secret again next time
                self.secrets.invalidate(self.secret_id)
            raise


class DestinationPlanner:
    """Which destinations a team's alert goes to, built from routes.json."""

    def __init__(
        self,
        routes: RoutesConfig,
        clients: ClientProvider,
        secrets: SecretCache,
        poster: JsonPoster,
        ses_configuration_set: str | None = None,
    ) -> None:
        self._routes = routes
        self._clients = clients
        self._secrets = secrets
        self._poster = poster
        self._ses_configuration_set = ses_configuration_set
        # Destinations are immutable: one list per team serves every alert that excludes nobody.
        self._by_team: dict[TeamRoute, tuple[Destination, ...]] = {}

    def for_alert(self, alert: NormalizedAlert, team: TeamRoute) -> list[Destination]:
        if alert.email_exclusions:
            return self._plan(alert, team)
        planned = self._by_team.get(team)
        if planned is None:
            planned = self._by_team[team] = tuple(self._plan(alert, team))
        return list(planned)

    def _plan(self, alert: NormalizedAlert, team: TeamRoute) -> list[Destination]:
        destinations: list[Destination] = []
        recipients = tuple(address for address in team.email if address.lower() not in alert.email_exclusions)
        sender = self._routes.email_sender
        if recipients and sender:  # routes validation guarantees a sender whenever a team has email
            destinations.append(EmailDestination(self._clients, sender, recipients, self._ses_configuration_set))
        if team.slack_webhook_secret:
            destinations.append(
                WebhookDestination(
                    "slack", team.slack_webhook_secret, self._secrets, self._poster, render.slack_message
                )
            )
        if team.teams_webhook_secret:
            destinations.append(
                WebhookDestination(
                    "teams", team.teams_webhook_secret, self._secrets, self._poster, render.teams_message
                )
            )
        return destinations
