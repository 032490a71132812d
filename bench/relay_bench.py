"""Alert relay benchmark, each figure beside the same figure of the baseline relay, run side by side.

The baseline is the relay as it stood before the work on lost and noisy alerts
(``RELAY_BASELINE``), extracted from git into a temporary folder. Both versions get the same
sample alerts, the same stubs at the AWS and HTTP boundary, and run in alternating fresh
interpreters, so a change in machine load hits both alike. Figures:

- throughput through ``handler.handler`` (alerts per CPU second, steadier on a shared machine,
  and per wall second);
- cold import of the Lambda handler;
- one real webhook POST to a local server: the relay's deadline-bounded poster beside plain
  urllib, which is what the baseline posted with.

Prints, does not assert: ``.venv/bin/python bench/relay_bench.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "relay_worker.py"
#: The relay before issue 11 (delivery by alert identity, deadlines, envelopes, sanitizing).
RELAY_BASELINE = "a910af0ca4707d989d465256615f5a43ba7ad74c"
RELAY_PATHS = ["lambdas/alert_relay", "dagster_platform"]
THROUGHPUT_TARGET = 2000
IMPORT_TARGET_MS = 300


def extract_baseline(into: Path) -> Path | None:
    """The baseline's relay code under ``into``, or None when this clone lacks the commit."""
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", RELAY_BASELINE, *RELAY_PATHS], capture_output=True
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def throughput(code_root: Path, alerts: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, str(WORKER), str(code_root), str(alerts)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def cold_import_ms(code_root: Path) -> float:
    relay_dir = code_root / "lambdas" / "alert_relay"
    code = "import time; t = time.perf_counter(); import handler; print((time.perf_counter() - t) * 1000)"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(relay_dir), str(code_root)]),
        "POWERTOOLS_SERVICE_NAME": "bench",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=relay_dir, env=env, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


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
    """Median milliseconds per POST to a local server: the relay's poster, and plain urllib as the baseline posted."""
    sys.path[:0] = [str(REPO_ROOT / "lambdas" / "alert_relay"), str(REPO_ROOT)]
    from alert_relay_core.destinations import HttpJsonPoster

    server = ThreadingHTTPServer(("127.0.0.1", 0), _OkHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    payload = {"text": "[prod] ERROR: Run of daily_orders failed", "blocks": []}
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


def side_by_side(roots: dict[str, Path], rounds: int, measure: Any) -> dict[str, list[Any]]:
    """``measure(root)`` for every version, alternating, ``rounds`` times (the first version changes each round)."""
    results: dict[str, list[Any]] = {name: [] for name in roots}
    names = list(roots)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(measure(roots[name]))
    return results


def paired_ratios(current: list[float], baseline: list[float]) -> list[float]:
    """current / baseline of each round: the two runs of a round are adjacent, so they share the machine's load."""
    return [mine / theirs for mine, theirs in zip(current, baseline)]


def verdict(ratios: list[float], higher_is_better: bool = True) -> str:
    """Loss only when the median round says so beyond the spread the rounds themselves show."""
    median = statistics.median(ratios)
    spread = (max(ratios) - min(ratios)) / 2
    better = median >= 1.0 if higher_is_better else median <= 1.0
    if better:
        return "no loss"
    if abs(median - 1.0) <= spread:
        return "no loss beyond the noise of the rounds"
    return "LOSS"


def comparison(
    label: str, current: list[float], baseline: list[float] | None, unit: str, higher_is_better: bool = True
) -> str:
    mine = statistics.median(current)
    if not baseline:
        return f"{label}: {mine:,.0f} {unit} (the baseline commit is not in this clone)"
    ratios = paired_ratios(current, baseline)
    return (
        f"{label}: {mine:,.0f} {unit}, baseline {statistics.median(baseline):,.0f}: "
        f"ratio {statistics.median(ratios):.3f} (rounds {min(ratios):.3f} to {max(ratios):.3f}; "
        f"{verdict(ratios, higher_is_better)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=3000, help="alerts per throughput round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per version")
    parser.add_argument("--posts", type=int, default=300, help="webhook POSTs to a local server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="relay-baseline-") as scratch:
        roots = {"current": REPO_ROOT}
        baseline_root = extract_baseline(Path(scratch))
        if baseline_root is not None:
            roots["baseline"] = baseline_root
        runs = side_by_side(roots, args.rounds, lambda root: throughput(root, args.alerts))
        imports = side_by_side(roots, args.rounds, cold_import_ms)

    def series(name: str, key: str) -> list[float] | None:
        return [run[key] for run in runs[name]] if name in runs else None

    print(
        f"relay vs baseline {RELAY_BASELINE[:7]}: medians of {args.rounds} alternating rounds of {args.alerts} alerts"
    )
    print(
        "  "
        + comparison(
            "throughput per CPU second",
            series("current", "alerts_per_cpu_s"),
            series("baseline", "alerts_per_cpu_s"),
            "alerts/s",
        )
    )
    print(
        "  "
        + comparison(
            "throughput per wall second",
            series("current", "alerts_per_s"),
            series("baseline", "alerts_per_s"),
            "alerts/s",
        )
        + f"; target >= {THROUGHPUT_TARGET}"
    )
    for name, runs_of in runs.items():  # both did the same work, or the ratio means nothing
        last = runs_of[-1]
        print(
            f"  {name}: {last['batch_item_failures']} batch item failures, {last['webhook_payloads']} webhook payloads rendered per round"
        )
    print(
        "  "
        + comparison("cold import", imports["current"], imports.get("baseline"), "ms", higher_is_better=False)
        + f"; target <= {IMPORT_TARGET_MS}"
    )
    poster_ms, urllib_ms = measure_webhook_posts(args.posts)
    print(
        f"  webhook POST to a local server: {poster_ms:.2f} ms with the deadline-bounded poster, {urllib_ms:.2f} ms with "
        f"plain urllib as the baseline posted: ratio {poster_ms / urllib_ms:.3f} (medians of {args.posts} each)"
    )


if __name__ == "__main__":
    main()
