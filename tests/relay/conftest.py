"""Fixtures for the alert relay and webhook Lambdas: moto AWS, local webhook servers, routes."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

# This folder (helpers), the relay's Lambda asset root and the repo root (dagster_platform).
_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parents[1] / "lambdas" / "alert_relay", _HERE.parents[1]):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import boto3  # noqa: E402
from alert_relay_core import runtime  # noqa: E402
from moto import mock_aws  # noqa: E402
from relay_payloads import REGION  # noqa: E402
from relay_support import (  # noqa: E402
    RELAY_DIR,
    SENDER,
    SLACK_PLATFORM,
    SLACK_PLATFORM_SECRET,
    STATE_TABLE,
    TEAMS_DATA_ENG,
    TEAMS_DATA_ENG_SECRET,
    WEBHOOK_DIR,
    WEBHOOK_SHARED_SECRET,
    WebhookServer,
    load_module,
    routes_document,
    webhook_request_handler,
)


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    state = WebhookServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), webhook_request_handler(state))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- moto AWS --------------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "alert-relay-test",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    """moto started before any client exists; the relay's state table and SES sender ready."""
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=STATE_TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("dynamodb", region_name=REGION).update_time_to_live(
            TableName=STATE_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
        yield


# --- routes + relay --------------------------------------------------------------------------


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(routes_document()))
    return path


@pytest.fixture
def webhook_secrets(aws: None, webhook_server: WebhookServer) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SLACK_PLATFORM_SECRET, SecretString=webhook_server.url(SLACK_PLATFORM))
    secrets.create_secret(Name=TEAMS_DATA_ENG_SECRET, SecretString=webhook_server.url(TEAMS_DATA_ENG))


@pytest.fixture
def relay_env(aws: None, webhook_secrets: None, routes_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Environment of the relay Lambda as the CDK stack sets it, with a fresh container."""
    monkeypatch.setenv("ROUTES_FILE", str(routes_file))
    monkeypatch.setenv("STATE_TABLE_NAME", STATE_TABLE)
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "0.5")
    runtime.relay_from_environment.cache_clear()
    yield
    runtime.relay_from_environment.cache_clear()


@pytest.fixture
def relay_handler(relay_env: None) -> ModuleType:
    return load_module("alert_relay_handler", RELAY_DIR / "handler.py")


@pytest.fixture
def webhook_handler(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    module = load_module("alert_webhook_handler", WEBHOOK_DIR / "handler.py")
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="dagster/prod/dagster-plus-webhook", SecretString=WEBHOOK_SHARED_SECRET
    )["ARN"]
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="dagster-prod-alerts")["QueueUrl"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    module.ingress_from_environment.cache_clear()
    yield module
    module.ingress_from_environment.cache_clear()
