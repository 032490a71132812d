"""Alert relay benchmark: throughput with AWS and HTTP stubbed at the client boundary, the cost
of one real webhook POST (deadline-bounded poster vs plain urllib, to a local server), and the
cold import time of the Lambda handler.

Run from anywhere: ``.venv/bin/python bench/relay_bench.py``. Prints, does not assert.
``--save FILE`` keeps the figures as JSON; ``--compare FILE`` prints the change against them.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RELAY_DIR = REPO_ROOT / "lambdas" / "alert_relay"
FIXTURES = REPO_ROOT / "tests" / "relay" / "fixtures"
THROUGHPUT_TARGET = 2000
IMPORT_TARGET_MS = 300

# The Lambda asset root is the handler's folder, with dagster_platform copied next to it.
for _path in (RELAY_DIR, REPO_ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "alert-relay-bench")
os.environ.setdefault("AWS_REGION", "us-east-1")

import handler  # noqa: E402 - the Lambda module itself, so Powertools batch handling is measured too
from alert_relay_core import render  # noqa: E402
from alert_relay_core.destinations import HttpJsonPoster  # noqa: E402
from alert_relay_core.runtime import build_relay  # noqa: E402
from alert_relay_core.settings import RelaySettings  # noqa: E402


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
        return self._clients.setdefault(service, self._Client(service))


class StubPoster:
    def __init__(self) -> None:
        self.posts = 0

    def post_json(self, url: str, payload: dict[str, Any], *, destination_id: str, deadline: float) -> None:
        render.encode_json(payload)  # the encoding the real poster sends
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


class _Context:
    function_name = "dagster-prod-alert-relay"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:dagster-prod-alert-relay"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 90_000  # the relay's function timeout: the invocation budget is in play


def measure_throughput(alerts: int) -> tuple[float, float, int, int]:
    """Alerts per second of wall time and per second of this process's CPU time (steadier on a
    shared machine), batch item failures, webhook payloads rendered."""
    # Logging stays at INFO as in production; only its destination is discarded.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives for the benchmark
    for log_handler in logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(devnull)

    settings = RelaySettings.from_environ(
        {
            "STATE_TABLE_NAME": "bench-state",
            "ROUTES_FILE": str(RELAY_DIR / "routes.example.json"),
            "AWS_REGION": "us-east-1",
        }
    )
    clients, poster = StubClients(), StubPoster()
    relay = build_relay(settings, clients=clients, poster=poster, task_tag_lookup=None)
    handler.relay_from_environment = lambda: relay  # type: ignore[attr-defined]

    bodies = sample_bodies()
    batch_size = 10
    batches = [
        sqs_event([bodies[(i + j) % len(bodies)] for j in range(batch_size)]) for i in range(alerts // batch_size)
    ]
    handler.handler(batches[0], _Context())  # warm-up: caches, first-use imports
    poster.posts = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    failures = 0
    for event in batches:
        failures += len(handler.handler(event, _Context())["batchItemFailures"])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    alerts = len(batches) * batch_size
    return alerts / elapsed, alerts / cpu, failures, poster.posts


class _OkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


def measure_webhook_posts(posts: int) -> tuple[float, float]:
    """Median milliseconds per POST to a local server: the relay's poster, and plain urllib as before."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    payload = json.loads(json.dumps({"text": "[prod] ERROR: Run of daily_orders failed", "blocks": []}))
    poster = HttpJsonPoster(5.0)

    def relay_poster() -> None:
        poster.post_json(url, payload, destination_id="slack", deadline=time.monotonic() + 5)

    def plain_urllib() -> None:
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local server
            response.read()

    samples: dict[str, list[float]] = {"relay": [], "urllib": []}
    try:
        relay_poster(), plain_urllib()  # warm-up
        for _ in range(posts):  # interleaved, so a change in machine load hits both alike
            for name, post in (("relay", relay_poster), ("urllib", plain_urllib)):
                start = time.perf_counter()
                post()
                samples[name].append((time.perf_counter() - start) * 1000)
    finally:
        server.shutdown()
        server.server_close()
    return statistics.median(samples["relay"]), statistics.median(samples["urllib"])


def measure_cold_import(runs: int) -> list[float]:
    code = "import time; t = time.perf_counter(); import handler; print((time.perf_counter() - t) * 1000)"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(RELAY_DIR), str(REPO_ROOT)]),
        "POWERTOOLS_SERVICE_NAME": "bench",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    timings = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=RELAY_DIR, env=env, capture_output=True, text=True, check=True
        )
        timings.append(float(result.stdout.strip().splitlines()[-1]))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=5000, help="alerts pushed through the handler")
    parser.add_argument("--posts", type=int, default=300, help="webhook POSTs to a local server")
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters for the import timing")
    parser.add_argument("--save", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--compare", type=Path, help="print the change against figures saved with --save")
    args = parser.parse_args()

    imports = measure_cold_import(args.import_runs)
    rate, cpu_rate, failures, posts = measure_throughput(args.alerts)
    poster_ms, urllib_ms = measure_webhook_posts(args.posts)
    figures = {
        "throughput_alerts_per_s": round(rate),
        "throughput_alerts_per_cpu_s": round(cpu_rate),
        "webhook_post_ms": round(poster_ms, 3),
        "cold_import_ms": round(statistics.median(imports)),
    }
    print(f"relay throughput: {rate:.0f} alerts/s (target >= {THROUGHPUT_TARGET}); {cpu_rate:.0f} per CPU-second")
    print(
        f"  {args.alerts} alerts in batches of 10 through handler.handler; "
        f"{failures} batch item failures; {posts} webhook payloads rendered"
    )
    print(
        f"webhook POST to a local server: {poster_ms:.2f} ms with the relay's deadline-bounded poster, "
        f"{urllib_ms:.2f} ms with plain urllib (medians of {args.posts} each)"
    )
    print(f"relay cold import: {statistics.median(imports):.0f} ms (target <= {IMPORT_TARGET_MS})")
    print(f"  median of {len(imports)} fresh interpreters, min {min(imports):.0f} ms, max {max(imports):.0f} ms")
    if args.compare and args.compare.exists():
        kept = json.loads(args.compare.read_text())
        for key, value in figures.items():
            if key in kept:
                print(f"  {key}: {value} (kept: {kept[key]}, change {100 * (value - kept[key]) / kept[key]:+.0f}%)")
    if args.save:
        args.save.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
