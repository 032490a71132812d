"""Shared helpers of the relay tests: paths, constants, the local webhook server, moto views.

Test modules import this (not ``conftest``, whose module name is shared by every conftest.py).
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RELAY_DIR = REPO_ROOT / "lambdas" / "alert_relay"
WEBHOOK_DIR = REPO_ROOT / "lambdas" / "alert_webhook"
# In Lambda the handler's folder is the import root; dagster_platform is copied next to it.
for _path in (RELAY_DIR, REPO_ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import boto3  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.ses.models import ses_backends  # noqa: E402
from relay_payloads import REGION  # noqa: E402

STATE_TABLE = "dagster-prod-alert-relay-state"
SENDER = "dagster-alerts@example.com"
SLACK_PLATFORM_SECRET = "dagster/prod/slack-platform"
TEAMS_DATA_ENG_SECRET = "dagster/prod/teams-data-eng"
# Where each webhook secret points on the local webhook server.
SLACK_PLATFORM = "/slack/platform"
TEAMS_DATA_ENG = "/teams/data-eng"
PLATFORM_EMAIL = "platform-oncall@example.com"
DATA_ENG_EMAIL = "data-eng@example.com"
WEBHOOK_SHARED_SECRET = "s3cr3t-shared-with-dagster-plus"


def load_module(name: str, path: Path) -> ModuleType:
    """Both Lambdas have a ``handler.py``; load each under its own module name."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- local webhook server ------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    payload: Any

    @property
    def text(self) -> str:
        return json.dumps(self.payload)


@dataclass
class PathBehavior:
    status: int = 200
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WebhookServer:
    """Slack/Teams stand-in on 127.0.0.1: records every POST, answers per path as configured."""

    base_url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    behaviors: dict[str, PathBehavior] = field(default_factory=dict)
    # path -> check of the raw body like the real service's (None when it accepts); a refused
    # payload is answered 400 and not recorded as received.
    validators: dict[str, Any] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def respond(
        self, path: str, status: int = 200, delay_seconds: float = 0.0, headers: dict[str, str] | None = None
    ) -> None:
        self.behaviors[path] = PathBehavior(status, delay_seconds, headers or {})

    def received(self, path: str) -> list[ReceivedRequest]:
        with self.lock:
            return [request for request in self.requests if request.path == path]


def webhook_request_handler(server_state: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            behavior = server_state.behaviors.get(self.path, PathBehavior())
            if behavior.delay_seconds:
                time.sleep(behavior.delay_seconds)
            validator = server_state.validators.get(self.path)
            problem = validator(raw) if validator is not None else None
            status = 400 if problem else behavior.status
            with server_state.lock:
                if problem:
                    server_state.refused.append((self.path, problem))
                else:
                    server_state.requests.append(
                        ReceivedRequest(self.path, dict(self.headers.items()), json.loads(raw.decode("utf-8")))
                    )
            body = b"ok" if status < 300 else (problem or "internal_error").encode()
            self.send_response(status)
            for name, value in behavior.headers.items():
                self.send_header(name, value)
            if 300 <= status < 400:
                self.send_header("Location", server_state.url("/elsewhere"))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have timed out and gone away, which is what the timeout test wants.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


# --- what Slack and Teams would refuse (their documented limits) -------------------------------

_UNESCAPED_SLACK_CONTROL = re.compile(r"<[!@#]")
TEAMS_PAYLOAD_LIMIT_BYTES = 28 * 1024


def slack_refusal(raw: bytes) -> str | None:
    """Slack's incoming-webhook limits for the blocks this relay sends, and no live mentions."""
    payload = json.loads(raw)
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 40_000:
        return "invalid text"
    mrkdwn = [text]
    blocks = payload.get("blocks", [])
    if len(blocks) > 50:
        return "too many blocks"
    for block in blocks:
        if block["type"] == "header":
            header = block["text"]["text"]
            if block["text"]["type"] != "plain_text" or not header.strip() or len(header) > 150:
                return "invalid header"
        elif block["type"] == "section":
            if "text" in block:
                section = block["text"]["text"]
                if not section.strip() or len(section) > 3000:
                    return f"invalid section text ({len(section)} characters)"
                mrkdwn.append(section)
            fields = block.get("fields", [])
            if len(fields) > 10 or any(not f["text"].strip() or len(f["text"]) > 2000 for f in fields):
                return "invalid fields"
            mrkdwn += [f["text"] for f in fields]
        else:
            return f"unexpected block {block['type']}"
    for piece in mrkdwn:
        if _UNESCAPED_SLACK_CONTROL.search(piece):
            return f"unescaped mention in {piece[:80]!r}"
    return None


def teams_refusal(raw: bytes) -> str | None:
    if len(raw) > TEAMS_PAYLOAD_LIMIT_BYTES:
        return f"payload of {len(raw)} bytes is over Teams' 28 KB"
    card = json.loads(raw)["attachments"][0]["content"]
    if card["type"] != "AdaptiveCard" or not card["body"][0]["text"].strip():
        return "invalid card"
    return None


class DripServer:
    """A hostile webhook on 127.0.0.1: reads the request, then sends its answer one byte every
    ``interval`` seconds. It stops by itself after ``max_seconds`` or when the client hangs up."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

    def __init__(self, interval: float = 0.2, max_seconds: float = 8.0) -> None:
        import socket

        self.interval = interval
        self.max_seconds = max_seconds
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks/drip"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: Any) -> None:
        started = time.monotonic()
        with connection:
            connection.settimeout(1.0)
            with contextlib.suppress(OSError):
                connection.recv(65536)  # the request (small enough for one read here)
            for byte in self.ANSWER:
                if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up
                time.sleep(self.interval)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


# --- moto views -----------------------------------------------------------------------------


def alerts_topic_into_queue(*, raw_delivery: bool) -> tuple[str, str]:
    """The platform's wiring in moto: an alerts topic with an SQS subscription. Returns (topic ARN, queue URL)."""
    import boto3

    from relay_payloads import REGION

    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="dagster-prod-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="dagster-prod-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true"} if raw_delivery else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
    return topic_arn, queue_url


def sent_emails() -> list[Any]:
    """Messages moto's SES (which backs SES v2) accepted."""
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def emails_to(address: str) -> list[Any]:
    return [message for message in sent_emails() if address in message.destinations.get("ToAddresses", [])]


def body_text(message: Any) -> str:
    """The email body as a reader sees it (moto keeps the HTML part when there is one)."""
    return html.unescape(message.body)


def state_items() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    return client.scan(TableName=STATE_TABLE, ConsistentRead=True)["Items"]


def clear_state() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    for item in state_items():
        client.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"]})


# --- routes ----------------------------------------------------------------------------------


def routes_document() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "environment": "prod",
        "default_team": "platform",
        "dedup_window_seconds": 900,
        "email_sender": SENDER,
        "teams": {
            "platform": {
                "email": [PLATFORM_EMAIL],
                "slack_webhook_secret": SLACK_PLATFORM_SECRET,
                "teams_webhook_secret": None,
                "sla_lateness_minutes": 5,
            },
            "data-eng": {
                "email": [DATA_ENG_EMAIL],
                "slack_webhook_secret": None,
                "teams_webhook_secret": TEAMS_DATA_ENG_SECRET,
                "sla_lateness_minutes": 15,
            },
        },
    }
