"""The HTTP and secret edge: what counts as delivered, and that webhook URLs never leak."""

from __future__ import annotations

import socket
import time

import pytest
from alert_relay_core.alerts import NormalizedAlert
from alert_relay_core.budget import Budget
from alert_relay_core.destinations import (
    EmailDestination,
    SecretCache,
    HttpJsonPoster,
    check_webhook_url,
    webhook_url_from_secret,
)
from alert_relay_core.errors import DeliveryError
from relay_support import WebhookServer

SECRET_PATH = "/services/T000/B000/very-secret-token"


def soon(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


def test_2xx_is_delivered(webhook_server: WebhookServer) -> None:
    webhook_server.respond(SECRET_PATH, status=202)
    HttpJsonPoster(1.0).post_json(webhook_server.url(SECRET_PATH), {"text": "hello"}, destination_id="teams", deadline=soon())

    (request,) = webhook_server.received(SECRET_PATH)
    assert request.payload == {"text": "hello"}
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("status", "expected"), [(500, "HTTP 500: internal_error"), (404, "HTTP 404"), (302, "HTTP 302")]
)
def test_non_2xx_is_a_delivery_error_without_the_url(webhook_server: WebhookServer, status: int, expected: str) -> None:
    webhook_server.respond(SECRET_PATH, status=status)

    with pytest.raises(DeliveryError) as raised:
        HttpJsonPoster(1.0).post_json(webhook_server.url(SECRET_PATH), {"text": "x"}, destination_id="slack", deadline=soon())

    assert expected in str(raised.value)
    assert "very-secret-token" not in str(raised.value)
    assert webhook_server.received("/elsewhere") == []  # redirects are not followed


def test_timeout_is_a_delivery_error(webhook_server: WebhookServer) -> None:
    webhook_server.respond(SECRET_PATH, delay_seconds=1.0)

    with pytest.raises(DeliveryError, match="timed out"):
        HttpJsonPoster(0.2).post_json(webhook_server.url(SECRET_PATH), {"text": "x"}, destination_id="slack", deadline=soon())


def test_connection_refused_is_a_delivery_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(DeliveryError, match="ConnectionRefusedError") as raised:
        HttpJsonPoster(0.5).post_json(f"http://127.0.0.1:{free_port}{SECRET_PATH}", {}, destination_id="slack", deadline=soon())
    assert "very-secret-token" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://hooks.slack.com/services/T/B/X", True),
        ("https://example.webhook.office.com/webhookb2/abc", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://hooks.slack.com/services/T/B/X", False),
        ("ftp://example.com/hook", False),
        ("hooks.slack.com/services/T/B/X", False),
        ("https:///no-host", False),
    ],
)
def test_only_https_or_loopback_webhook_urls(url: str, accepted: bool) -> None:
    if accepted:
        assert check_webhook_url(url, "slack") == url
    else:
        with pytest.raises(DeliveryError, match="must be https://") as raised:
            check_webhook_url(url, "slack")
        assert "T/B/X" not in str(raised.value)


def test_secret_string_may_be_a_url_or_a_json_object() -> None:
    assert webhook_url_from_secret(" https://hooks.slack.com/x \n") == "https://hooks.slack.com/x"
    assert webhook_url_from_secret('{"url": "https://hooks.slack.com/y"}') == "https://hooks.slack.com/y"
    assert webhook_url_from_secret('{"webhook_url": "https://example.webhook.office.com/z"}') == (
        "https://example.webhook.office.com/z"
    )


def test_secret_cache_expires_and_can_be_invalidated() -> None:
    calls: list[str] = []

    class FakeSecretsManager:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3 API
            calls.append(SecretId)
            return {"SecretString": f"https://hooks.example.com/{len(calls)}"}

    class Clients:
        def client(self, service: str, region_name: str | None = None) -> FakeSecretsManager:
            assert service == "secretsmanager"
            return FakeSecretsManager()

    now = [0.0]
    cache = SecretCache(Clients(), ttl_seconds=300, clock=lambda: now[0])
    assert cache.get("dagster/prod/slack-platform", "slack") == "https://hooks.example.com/1"
    now[0] = 299
    assert cache.get("dagster/prod/slack-platform", "slack") == "https://hooks.example.com/1"
    now[0] = 300
    assert cache.get("dagster/prod/slack-platform", "slack") == "https://hooks.example.com/2"
    cache.invalidate("dagster/prod/slack-platform")
    assert cache.get("dagster/prod/slack-platform", "slack") == "https://hooks.example.com/3"
    assert calls == ["dagster/prod/slack-platform"] * 3


def test_email_request_uses_sender_recipients_and_configuration_set() -> None:
    requests: list[dict] = []

    class FakeSes:
        def send_email(self, **request: object) -> dict[str, str]:
            requests.append(request)
            return {"MessageId": "m-1"}

    class Clients:
        def client(self, service: str, region_name: str | None = None) -> FakeSes:
            assert service == "sesv2"
            return FakeSes()

    alert = NormalizedAlert(
        source="dagster",
        kind="run_failure",
        severity="error",
        team="data-eng",
        title="Run of daily_orders failed",
        details="boom <b>",
        links=(),
        dedup_key="dagster:run_failure:r1",
        occurred_at="2025-11-24T06:40:00+00:00",
        environment="prod",
    )
    EmailDestination(Clients(), "dagster-alerts@example.com", ("data-eng@example.com",), "alerts-config-set").deliver(
        alert, Budget.unlimited()
    )

    (request,) = requests
    assert request["FromEmailAddress"] == "dagster-alerts@example.com"
    assert request["Destination"] == {"ToAddresses": ["data-eng@example.com"]}
    assert request["ConfigurationSetName"] == "alerts-config-set"
    simple = request["Content"]["Simple"]
    assert simple["Subject"]["Data"] == "[prod] ERROR: Run of daily_orders failed"
    assert "boom <b>" in simple["Body"]["Text"]["Data"]
    assert "boom &lt;b&gt;" in simple["Body"]["Html"]["Data"]
