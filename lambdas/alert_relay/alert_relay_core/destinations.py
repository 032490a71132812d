"""The edge: deliver a routed alert by SES email, Slack webhook or Microsoft Teams webhook.

Webhook URLs are credentials: they are read from Secrets Manager (the SecretString is the
URL, or a JSON object with ``url``/``webhook_url``), cached per container, and never logged
or put in an error message. Only ``https://`` URLs are used, plus ``http://127.0.0.1`` and
``http://localhost`` for local tests.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from . import render
from .alerts import NormalizedAlert
from .aws import ClientProvider
from .errors import DeliveryError
from .routes import RoutesConfig, TeamRoute

SECRET_CACHE_SECONDS = 300.0
_USER_AGENT = "dagster-platform-alert-relay/1"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_ERROR_BODY_CHARS = 300


class Destination(Protocol):
    @property
    def destination_id(self) -> str: ...

    def deliver(self, alert: NormalizedAlert) -> None:
        """Deliver or raise DeliveryError."""


class JsonPoster(Protocol):
    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str) -> None:
        """POST the payload; raise DeliveryError unless the answer is 2xx."""


def check_webhook_url(url: str, destination_id: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return url
    raise DeliveryError(destination_id, f"webhook URL must be https:// (got scheme {parts.scheme or 'none'!r})")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # A webhook that redirects is misconfigured; following it could downgrade to http or
    # send the alert somewhere unexpected, so a 3xx is a delivery failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class UrllibJsonPoster:
    """POSTs JSON with the standard library; any non-2xx, timeout or socket error raises."""

    def __init__(self, timeout_seconds: float) -> None:
        self._timeout_seconds = timeout_seconds
        self._opener = urllib.request.build_opener(_RefuseRedirects)

    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str = "webhook") -> None:
        host = urlsplit(url).hostname or "webhook"
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT},
        )
        try:
            with self._opener.open(request, timeout=self._timeout_seconds) as response:
                status = response.status
                response.read(4096)
        except urllib.error.HTTPError as exc:
            answer = _read_error_body(exc)
            raise DeliveryError(destination_id, f"{host} answered HTTP {exc.code}: {answer}") from None
        except urllib.error.URLError as exc:
            raise DeliveryError(destination_id, f"POST to {host} failed: {_describe(exc.reason)}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise DeliveryError(destination_id, f"POST to {host} failed: {_describe(exc)}") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            # Only the type: these messages can quote the URL, and the URL is a credential.
            raise DeliveryError(destination_id, f"POST to {host} failed: {type(exc).__name__}") from None
        if not 200 <= status < 300:
            raise DeliveryError(destination_id, f"{host} answered HTTP {status}")


def _describe(reason: object) -> str:
    """Socket-level reasons (timeouts, refused connections, DNS) never contain the URL path."""
    if isinstance(reason, OSError):
        return f"{type(reason).__name__}: {reason}"
    return type(reason).__name__ if not isinstance(reason, str) else reason.split(":", 1)[0]


def _read_error_body(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(_ERROR_BODY_CHARS).decode("utf-8", "replace").strip() or error.reason
    except OSError:
        return str(error.reason)


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

    def deliver(self, alert: NormalizedAlert) -> None:
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

    def deliver(self, alert: NormalizedAlert) -> None:
        url = check_webhook_url(
            webhook_url_from_secret(self.secrets.get(self.secret_id, self.destination_id)), self.destination_id
        )
        try:
            self.poster.post_json(url, self.build_payload(alert), destination_id=self.destination_id)
        except DeliveryError:
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

    def for_alert(self, alert: NormalizedAlert, team: TeamRoute) -> list[Destination]:
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
