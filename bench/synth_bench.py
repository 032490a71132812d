"""Synth timings: ``cdk synth`` of the examples against a one-bucket app through the same CLI, and
the phases of a synth, so a slowdown can be traced.

The gate (cdk-nag, cfn-lint, the Dagster file checks, the review) must cost at most 2x the floor
of any CDK Python app: ``cdk synth`` of an app with one S3 bucket and no checks, run through the
same pinned CLI on the same machine in the same run (interleaved, median of 3, kept ``cdk.out``
as ``make synth`` keeps it). Printed, not asserted. Run through ``make bench``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
TARGET_SECONDS = 10.0
TARGET_RATIO = 2.0
#: Code locations of the scaling run. dagster_cloud.yaml is published to one SSM parameter (8 KiB at
#: most, about 1 KiB per copied example location), so 25 no longer synthesize.
MANY_LOCATIONS = 6

BASELINE_APP = """
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

app = App()
s3.Bucket(Stack(app, "baseline"), "Bucket")
app.synth()
"""

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import aws_cdk, cdk_nag, constructs_lib, stacks, app
t1 = time.perf_counter()
application, stages = app.build_app(sys.argv[1], outdir=sys.argv[2])
t2 = time.perf_counter()
app.check_artifacts(sys.argv[2], stages)
t3 = time.perf_counter()
assembly = application.synth()
app.write_artifacts(assembly.directory, stages)
t4 = time.perf_counter()
from pathlib import Path
from constructs_lib.review import write_reviews
write_reviews(Path(assembly.directory), [stage.config for stage in stages])
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "construct": t2 - t1, "Dagster file checks": t3 - t2,
                  "synth with cdk-nag and cfn-lint": t4 - t3, "review (cfn-lint cached by synth)": t5 - t4}))
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
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python app.py failed for {config_dir}:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_cli_synth(cwd: Path, outdir: Path) -> tuple[float, float]:
    """``cdk synth --quiet`` through the pinned CLI, as ``make synth`` runs it, into a kept ``outdir``:
    (wall seconds, CPU seconds of the CLI, the app and its jsii runtime). CPU time is the steadier
    figure on a shared machine."""
    env = {k: v for k, v in environment().items() if not k.startswith("CDK_")}
    start, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run([str(CDK), "synth", "--quiet", "--output", str(outdir)], cwd=cwd, env=env,
                            capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"cdk synth failed in {cwd}:\n{result.stderr[-2000:]}")
    return elapsed, cpu


def baseline_app(scratch: Path) -> Path:
    folder = scratch / "one-bucket-app"
    folder.mkdir()
    (folder / "app.py").write_text(BASELINE_APP)
    (folder / "cdk.json").write_text(json.dumps({"app": f"{sys.executable} app.py"}))
    return folder


def against_one_bucket_app(rounds: int = 3) -> None:
    """Examples vs one-bucket app through the same CLI: first synth each, then ``rounds`` interleaved warm."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        baseline = baseline_app(scratch)
        runs = {"examples": (ROOT, scratch / "cdk.out-examples"), "one bucket": (baseline, scratch / "cdk.out-baseline")}
        cold = {name: time_cli_synth(cwd, outdir) for name, (cwd, outdir) in runs.items()}
        warm: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (cwd, outdir) in runs.items():
                warm[name].append(time_cli_synth(cwd, outdir))

    def median(name: str, index: int) -> float:
        values = sorted(run[index] for run in warm[name])
        return values[len(values) // 2]

    wall = {name: median(name, 0) for name in warm}
    cpu = {name: median(name, 1) for name in warm}
    ratio, cpu_ratio = wall["examples"] / wall["one bucket"], cpu["examples"] / cpu["one bucket"]
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    environments = len(list((ROOT / "config").glob("*.yaml")))
    print(f"cdk synth (pinned CLI), warm, median of {rounds}: all {environments} example environments "
          f"{wall['examples']:.2f} s, one-bucket app {wall['one bucket']:.2f} s -> ratio {ratio:.2f} "
          f"(target <= {TARGET_RATIO:.1f}) {verdict}")
    print(f"  CPU time (CLI + app + jsii): examples {cpu['examples']:.2f} s, one-bucket app {cpu['one bucket']:.2f} s "
          f"-> ratio {cpu_ratio:.2f}")
    print(f"  first synth into a new cdk.out (caches cold): examples {cold['examples'][0]:.2f} s, "
          f"one-bucket app {cold['one bucket'][0]:.2f} s -> ratio {cold['examples'][0] / cold['one bucket'][0]:.2f}")


def warm_and_cold(config_dir: Path, scratch: Path) -> tuple[float, float]:
    """(median of 3 warm synths into one kept cdk.out, the first synth into a new one)."""
    outdir = scratch / f"cdk.out-{config_dir.name}"
    cold = time_full_synth(config_dir, outdir)
    warm = sorted(time_full_synth(config_dir, outdir) for _ in range(3))[1]
    return warm, cold


def time_phases(config_dir: Path) -> dict[str, float]:
    """Each phase of a first synth (caches cold) in one process: imports, building constructs, the
    Dagster file checks, synth (cdk-nag and cfn-lint plugins), review."""
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
        for count in (1, MANY_LOCATIONS):
            config_dir = config_with_locations(Path(scratch) / f"locations-{count}", count)
            timings[count], cold[count] = warm_and_cold(config_dir, Path(scratch))
            phases[count] = time_phases(config_dir)
    per_location_ms = (timings[MANY_LOCATIONS] - timings[1]) / (MANY_LOCATIONS - 1) * 1000
    cold_ms = (cold[MANY_LOCATIONS] - cold[1]) / (MANY_LOCATIONS - 1) * 1000
    verdict = "ok" if per_location_ms <= target_ms else "OVER TARGET"
    print(f"synth, one environment: 1 code location {timings[1]:.2f} s, {MANY_LOCATIONS} code locations {timings[MANY_LOCATIONS]:.2f} s "
          f"-> {per_location_ms:.0f} ms per extra location (target <= {target_ms} ms) {verdict}")
    print(f"  first synth into a new cdk.out (lint cache cold): {cold_ms:.0f} ms per extra location; per phase:")
    for name in phases[1]:
        extra_ms = (phases[MANY_LOCATIONS][name] - phases[1][name]) / (MANY_LOCATIONS - 1) * 1000
        print(f"  {name}: {extra_ms:+.0f} ms per extra location")


def main() -> None:
    against_one_bucket_app()
    config_dir = ROOT / "config"
    with tempfile.TemporaryDirectory() as scratch:
        median, cold = warm_and_cold(config_dir, Path(scratch))
    verdict = "ok" if median <= TARGET_SECONDS else "OVER TARGET"
    environments = len(list(config_dir.glob("*.yaml")))
    print(f"python app.py, all {environments} example environments, warm cache: {median:.2f} s median of 3 "
          f"(target <= {TARGET_SECONDS:.0f} s) {verdict}; first synth into a new cdk.out {cold:.2f} s")
    phases = time_phases(config_dir)
    print("  phases of a first synth: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()))
    location_scaling()


if __name__ == "__main__":
    main()
