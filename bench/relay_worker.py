"""One throughput measurement of the alert relay in this process, for ``relay_bench.py``.

    python bench/relay_worker.py CODE_ROOT ALERTS

CODE_ROOT holds ``lambdas/alert_relay`` and ``dagster_platform`` (this checkout, or the baseline
commit extracted by ``relay_bench.py``). AWS and HTTP are stubbed at the client boundary; the
Lambda module itself runs, so Powertools batch handling and logging are measured too. The sample
alerts are this checkout's fixtures, so both code versions get the same input. Prints one JSON
line: alerts per wall second and per CPU second, batch item failures, webhook payloads rendered.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "relay" / "fixtures"
BATCH_SIZE = 10


class StubClients:
    """boto3 stand-ins that answer like AWS for the calls the relay makes."""

    class _Client:
        def __init__(self, service: str) -> None:
            self.service = service
            self.calls = 0

        def send_email(self, **request: Any) -> dict[str, Any]:
            self.calls += 1
            json.dumps(request)  # the request serialization boto3 would do
            return {"MessageId": str(uuid.uuid4())}

        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3 API
            self.calls += 1
            return {"SecretString": f"https://hooks.example.com/{SecretId}"}

        def get_item(self, **request: Any) -> dict[str, Any]:
            self.calls += 1
            return {}

        def put_item(self, **request: Any) -> dict[str, Any]:
            self.calls += 1
            return {}

        update_item = delete_item = transact_write_items = put_item

    def __init__(self) -> None:
        self._clients: dict[str, StubClients._Client] = {}

    def client(self, service: str, region_name: str | None = None) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self._Client(service)
        return client


def _webhook_encoder() -> Any:
    """The bytes this code version's real poster sends (the baseline sent ``json.dumps`` as is)."""
    try:
        from alert_relay_core.render import encode_json

        return encode_json
    except ImportError:
        return lambda payload: json.dumps(payload).encode("utf-8")


class StubPoster:
    def __init__(self) -> None:
        self.posts = 0
        self._encode = _webhook_encoder()

    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str, **deadline: Any) -> None:
        self._encode(payload)
        self.posts += 1


def sample_bodies() -> list[str]:
    def load(name: str) -> Any:
        return json.loads((FIXTURES / f"{name}.json").read_text())

    def sns(message: Any, subject: str | None = None) -> str:
        envelope = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:dagster-prod-alerts",
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": "2025-11-24T06:40:12.500Z",
        }
        if subject:
            envelope["Subject"] = subject
        return json.dumps(envelope)

    freshness = {
        "schema": "dagster-platform/alert@1",
        "kind": "freshness",
        "severity": "warning",
        "title": "Freshness of analytics/orders",
        "occurred_at": "2025-11-24T06:40:00+00:00",
        "asset_key": "analytics/orders",
        "lateness_seconds": 420.0,
    }
    return [
        sns(load("cloudwatch_alarm"), "ALARM: dagster-prod-agent-running-tasks"),
        sns(load("ses_bounce")),
        sns(load("ses_complaint")),
        json.dumps(load("ecs_task_oom")),
        json.dumps(load("ecs_task_nonzero_exit")),
        json.dumps(load("dagster_run_failure")),
        json.dumps(load("dagster_cloud_webhook")),
        json.dumps(freshness),
        sns("Nightly backup finished with warnings", "Backup warnings"),
        "this is not JSON {",
    ]


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now_ms},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:dagster-prod-alerts",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


class LambdaContext:
    function_name = "dagster-prod-alert-relay"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:dagster-prod-alert-relay"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 90_000  # the relay's function timeout: the invocation budget is in play


def measure(code_root: Path, alerts: int) -> dict[str, float]:
    relay_dir = code_root / "lambdas" / "alert_relay"
    sys.path[:0] = [str(relay_dir), str(code_root)]
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "alert-relay-bench")
    os.environ.setdefault("AWS_REGION", "us-east-1")

    import handler
    from alert_relay_core.runtime import build_relay
    from alert_relay_core.settings import RelaySettings

    # Logging stays at INFO as in production; only its destination is discarded.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives for the measurement
    for log_handler in logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)

    settings = RelaySettings.from_environ(
        {
            "STATE_TABLE_NAME": "bench-state",
            "ROUTES_FILE": str(relay_dir / "routes.example.json"),
            "AWS_REGION": "us-east-1",
        }
    )
    poster = StubPoster()
    relay = build_relay(settings, clients=StubClients(), poster=poster, task_tag_lookup=None)
    handler.relay_from_environment = lambda: relay

    bodies = sample_bodies()
    batches = [
        sqs_event([bodies[(i + j) % len(bodies)] for j in range(BATCH_SIZE)]) for i in range(alerts // BATCH_SIZE)
    ]
    handler.handler(batches[0], LambdaContext())  # warm-up: caches, first-use imports
    poster.posts = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    failures = 0
    for event in batches:
        failures += len(handler.handler(event, LambdaContext())["batchItemFailures"])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    measured = len(batches) * BATCH_SIZE
    return {
        "alerts_per_s": measured / elapsed,
        "alerts_per_cpu_s": measured / cpu,
        "batch_item_failures": failures,
        "webhook_payloads": poster.posts,
    }


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]).resolve(), int(sys.argv[2]))))
