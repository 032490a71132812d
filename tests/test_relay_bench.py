"""`make bench`'s relay figures: measured beside the baseline relay, and judged by their own noise.

Speed is not asserted here (benchmarks, not timed tests); that the comparison really runs both
relays on the same input, and how a ratio is judged, is.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("relay_bench", ROOT / "bench" / "relay_bench.py")
relay_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relay_bench)


@pytest.mark.parametrize(
    ("ratios", "higher_is_better", "expected"),
    [
        ([1.01, 0.99, 1.02], True, "no loss"),
        ([0.99, 0.97, 1.01], True, "no loss beyond the noise of the rounds"),  # median 0.99, spread 0.02
        ([0.92, 0.93, 0.91], True, "LOSS"),  # every round slower, well beyond their spread
        ([0.90, 0.95], False, "no loss"),  # lower is better (import time)
        ([1.10, 1.12, 1.11], False, "LOSS"),
    ],
)
def test_a_loss_is_called_only_beyond_the_spread_of_the_rounds(
    ratios: list[float], higher_is_better: bool, expected: str
) -> None:
    assert relay_bench.verdict(ratios, higher_is_better) == expected


def test_rounds_are_paired_and_alternate_which_version_runs_first() -> None:
    order: list[str] = []
    results = relay_bench.side_by_side(
        {"current": Path("current"), "baseline": Path("baseline")}, 3, lambda root: order.append(root.name) or root.name
    )
    assert order == ["current", "baseline", "baseline", "current", "current", "baseline"]
    assert results == {"current": ["current"] * 3, "baseline": ["baseline"] * 3}
    assert relay_bench.paired_ratios([6000.0, 6600.0], [6000.0, 6000.0]) == [1.0, 1.1]


def test_the_relay_bench_measures_both_relays_on_the_same_alerts() -> None:
    has_baseline = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{relay_bench.RELAY_BASELINE}^{{commit}}"], capture_output=True
    )
    if has_baseline.returncode != 0:
        pytest.skip("this clone does not hold the baseline commit (shallow clone)")

    bench = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "relay_bench.py"), "--alerts", "200", "--rounds", "1", "--posts", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    lines = bench.stdout.splitlines()
    assert (
        lines[0] == f"relay vs baseline {relay_bench.RELAY_BASELINE[:7]}: medians of 1 alternating rounds of 200 alerts"
    )
    assert "throughput per CPU second:" in lines[1] and ", baseline " in lines[1] and ": ratio " in lines[1]
    assert [line.strip() for line in lines[3:5]] == [
        f"{name}: 0 batch item failures, 200 webhook payloads rendered per round" for name in ("current", "baseline")
    ]
    assert "cold import:" in lines[5] and ", baseline " in lines[5]
    assert "webhook POST to a local server:" in lines[6]
