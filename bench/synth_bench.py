"""Synth timings: the whole CLI-equivalent synth, and its phases, so a slowdown can be traced.

Printed, not asserted. Run through ``make bench`` (which puts Node.js 24 first on PATH).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 10.0

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import aws_cdk, cdk_nag, constructs_lib, stacks, app
t1 = time.perf_counter()
application, stages = app.build_app(sys.argv[1], outdir=sys.argv[2])
t2 = time.perf_counter()
assembly = application.synth()
app.write_artifacts(assembly.directory, stages)
t3 = time.perf_counter()
from pathlib import Path
from constructs_lib.review import write_reviews
write_reviews(Path(assembly.directory), [stage.config for stage in stages])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "construct": t2 - t1, "synth": t3 - t2, "review (incl. cfn-lint)": t4 - t3}))
"""


def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def time_full_synth(config_dir: Path, outdir: Path) -> float:
    """``python app.py`` as ``cdk synth`` runs it, into ``outdir`` (kept between runs, like cdk.out,
    so the review's lint cache is warm when templates are unchanged)."""
    env = {**environment(), "CDK_OUTDIR": str(outdir), "DAGSTER_PLATFORM_CONFIG_DIR": str(config_dir)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def warm_and_cold(config_dir: Path, scratch: Path) -> tuple[float, float]:
    """(median of 3 warm synths into one kept cdk.out, the first synth into a new one)."""
    outdir = scratch / f"cdk.out-{config_dir.name}"
    cold = time_full_synth(config_dir, outdir)
    warm = sorted(time_full_synth(config_dir, outdir) for _ in range(3))[1]
    return warm, cold


def time_phases(config_dir: Path) -> dict[str, float]:
    """Each phase in one process: imports, building constructs, synth (with cdk-nag), review."""
    with tempfile.TemporaryDirectory() as outdir:
        result = subprocess.run(
            [sys.executable, "-c", PHASES, str(config_dir), outdir],
            cwd=ROOT, env=environment(), check=True, capture_output=True, text=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])


def config_with_locations(directory: Path, count: int) -> Path:
    """The dev example with ``count`` code locations (copies of its first one)."""
    import yaml

    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    template = next(iter(data["code_locations"].values()))
    data["code_locations"] = {f"location-{index:02d}": template for index in range(count)}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dev.yaml").write_text(yaml.safe_dump(data))
    return directory


def location_scaling() -> None:
    target_ms = 100
    with tempfile.TemporaryDirectory() as scratch:
        timings, cold, phases = {}, {}, {}
        for count in (1, 25):
            config_dir = config_with_locations(Path(scratch) / f"locations-{count}", count)
            timings[count], cold[count] = warm_and_cold(config_dir, Path(scratch))
            phases[count] = time_phases(config_dir)
    per_location_ms = (timings[25] - timings[1]) / 24 * 1000
    cold_ms = (cold[25] - cold[1]) / 24 * 1000
    verdict = "ok" if per_location_ms <= target_ms else "OVER TARGET"
    print(f"synth, one environment: 1 code location {timings[1]:.2f} s, 25 code locations {timings[25]:.2f} s "
          f"-> {per_location_ms:.0f} ms per extra location (target <= {target_ms} ms) {verdict}")
    print(f"  first synth into a new cdk.out (lint cache cold): {cold_ms:.0f} ms per extra location; per phase:")
    for name in phases[1]:
        extra_ms = (phases[25][name] - phases[1][name]) / 24 * 1000
        print(f"  {name}: {extra_ms:+.0f} ms per extra location")


def main() -> None:
    config_dir = ROOT / "config"
    with tempfile.TemporaryDirectory() as scratch:
        median, cold = warm_and_cold(config_dir, Path(scratch))
    verdict = "ok" if median <= TARGET_SECONDS else "OVER TARGET"
    environments = len(list(config_dir.glob("*.yaml")))
    print(f"synth, all {environments} example environments, warm cache: {median:.2f} s median of 3 "
          f"(target <= {TARGET_SECONDS:.0f} s) {verdict}; first synth into a new cdk.out {cold:.2f} s")
    phases = time_phases(config_dir)
    print("  phases: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()))
    location_scaling()


if __name__ == "__main__":
    main()
