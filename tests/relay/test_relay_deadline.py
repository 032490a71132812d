"""Time: a request has a total deadline, an invocation ends inside the Lambda timeout, and a
destination's Retry-After is honoured. Real HTTP servers on 127.0.0.1, moto for AWS."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from alert_relay_core import http_post
from alert_relay_core.destinations import HttpJsonPoster
from alert_relay_core.errors import DeliveryError
from alert_relay_core.http_post import parse_retry_after
from relay_payloads import (
    REGION,
    FakeLambdaContext,
    cloudwatch_alarm_body,
    contract_alert,
    failed_ids,
    queued,
    sqs_event,
    sqs_event_from_received,
)
from relay_support import (
    PLATFORM_EMAIL,
    SLACK_PLATFORM,
    SLACK_PLATFORM_SECRET,
    DripServer,
    WebhookServer,
    emails_to,
    state_items,
)


@pytest.fixture
def drip_server() -> Iterator[DripServer]:
    server = DripServer(interval=0.2, max_seconds=8.0)
    try:
        yield server
    finally:
        server.close()


@dataclass
class ShortContext(FakeLambdaContext):
    """A Lambda context whose invocation ends ``seconds`` after it was created."""

    seconds: float = 60.0

    def __post_init__(self) -> None:
        self._ends_at = time.monotonic() + self.seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


def distinct_alarm(index: int) -> str:
    name = f"alarm-{index}"
    return cloudwatch_alarm_body(AlarmName=name, AlarmArn=f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}")


def test_the_drip_server_really_defeats_a_per_read_timeout(drip_server: DripServer) -> None:
    """The problem, shown with urllib: each byte arrives within its 1 s timeout, so the request
    lasts as long as the server likes (here 2 s before the test gives up reading)."""
    started = time.monotonic()
    request = urllib.request.Request(drip_server.url, data=b"{}", method="POST")
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever it is, it is not a timeout at 1 s
        with urllib.request.urlopen(request, timeout=1.0) as response:  # noqa: S310 - local server
            while time.monotonic() - started < 2.0:
                if not response.read(1):
                    break
            raise RuntimeError("still reading after 2 s")
    assert time.monotonic() - started >= 2.0


def test_a_dripping_server_cannot_hold_a_request_past_its_total_timeout(drip_server: DripServer) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"timed out: no complete answer within 1 s"):
        HttpJsonPoster(1.0).post_json(drip_server.url, {"text": "x"}, destination_id="slack", deadline=started + 30)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.6


def test_the_callers_deadline_cuts_a_request_shorter_than_its_timeout(drip_server: DripServer) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="timed out"):
        HttpJsonPoster(5.0).post_json(drip_server.url, {"text": "x"}, destination_id="slack", deadline=started + 0.5)
    assert time.monotonic() - started < 1.0


def test_invocation_ends_inside_the_lambda_timeout_and_unreached_records_are_retried(
    relay_handler: ModuleType, drip_server: DripServer, webhook_server: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of five alerts whose Slack webhook drips: each POST is cut at HTTP_TIMEOUT_SECONDS
    (1 s here), the invocation stops starting work when its budget ends, and every record not
    delivered is a batch item failure. Nothing is lost, nothing is sent twice."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(SecretId=SLACK_PLATFORM_SECRET, SecretString=drip_server.url)
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "1")
    monkeypatch.setattr(relay_handler, "INVOCATION_RESERVE_SECONDS", 0.5)  # the production reserve is 28 s
    relay_handler.relay_from_environment.cache_clear()
    alarms = [queued(distinct_alarm(index)) for index in range(5)]
    lambda_timeout = 3.0

    started = time.monotonic()
    response = relay_handler.handler(sqs_event(*alarms), ShortContext(seconds=lambda_timeout))
    elapsed = time.monotonic() - started

    assert elapsed < lambda_timeout
    assert failed_ids(response) == {alarm.message_id for alarm in alarms}
    attempted = len(emails_to(PLATFORM_EMAIL))
    assert 1 <= attempted < 5  # some records were never started: no time was left for them

    # The webhook recovers: the retries deliver each alert once, to Slack and (only where it
    # had not yet) by email.
    secrets.put_secret_value(SecretId=SLACK_PLATFORM_SECRET, SecretString=webhook_server.url(SLACK_PLATFORM))
    retries = [queued(alarm.body, message_id=alarm.message_id, receive_count=2) for alarm in alarms]
    assert relay_handler.handler(sqs_event(*retries), ShortContext(seconds=30)) == {"batchItemFailures": []}
    assert len(emails_to(PLATFORM_EMAIL)) == 5
    assert len(webhook_server.received(SLACK_PLATFORM)) == 5


def test_a_record_is_not_started_without_time_left(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    message = queued(json.dumps(contract_alert()))

    response = relay_handler.handler(sqs_event(message), ShortContext(seconds=1.0))  # below the 28 s reserve

    assert failed_ids(response) == {message.message_id}
    assert webhook_server.requests == [] and state_items() == []


# --- Retry-After -------------------------------------------------------------------------------


def test_a_short_retry_after_is_waited_for_within_the_invocation(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    calls: list[float] = []

    def throttled_once(raw: bytes) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            webhook_server.respond(SLACK_PLATFORM, status=200)
        return None

    webhook_server.respond(SLACK_PLATFORM, status=429, headers={"Retry-After": "1"})
    webhook_server.validators[SLACK_PLATFORM] = throttled_once

    response = relay_handler.handler(sqs_event(queued(cloudwatch_alarm_body())), ShortContext(seconds=60))

    assert response == {"batchItemFailures": []}
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 1.0
    assert len(webhook_server.received(SLACK_PLATFORM)) == 2  # the 429 and the accepted retry
    assert len(emails_to(PLATFORM_EMAIL)) == 1


def test_a_long_retry_after_keeps_the_record_invisible_that_long(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="dagster-prod-alerts", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for index in range(2):
        sqs.send_message(QueueUrl=queue_url, MessageBody=distinct_alarm(index))
    webhook_server.respond(SLACK_PLATFORM, status=429, headers={"Retry-After": "120"})
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(received) == 2

    response = relay_handler.handler(sqs_event_from_received(received), ShortContext(seconds=60))

    assert failed_ids(response) == {message["MessageId"] for message in received}
    # Without the change both would be visible at once (the queue's visibility timeout is 0).
    assert sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []) == []
    # The second alert did not knock on the throttled webhook again.
    assert len(webhook_server.received(SLACK_PLATFORM)) == 1
    assert len(emails_to(PLATFORM_EMAIL)) == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_header_forms(header: str | None, expected: float | None) -> None:
    now = 1445412450.0  # 30 s before the date above
    assert parse_retry_after(header, now=now) == expected


# --- the same over TLS, as Slack and Teams are reached ---------------------------------------------


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_a_dripping_tls_server_is_cut_off_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS, trusted through a test CA: the handshake completes, then the answer drips."""
    cert_file, key_file = _self_signed_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(cert_file))
    monkeypatch.setattr(http_post, "_tls_context", lambda: client_context)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        with listener:
            listener.settimeout(5)
            raw, _ = listener.accept()
            with server_context.wrap_socket(raw, server_side=True) as connection:
                connection.settimeout(2)
                connection.recv(65536)
                for byte in DripServer.ANSWER:
                    if stop.is_set():
                        return
                    try:
                        connection.sendall(bytes([byte]))
                    except OSError:
                        return
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError, match="timed out: no complete answer within 1 s"):
            HttpJsonPoster(1.0).post_json(
                f"https://localhost:{port}/hooks", {"text": "x"}, destination_id="teams", deadline=started + 30
            )
        assert time.monotonic() - started < 1.6
    finally:
        stop.set()
        thread.join(timeout=3)
