"""How long the run-policy checker takes on a large code location, beyond loading it.

Generates a code location with 200 jobs (op jobs and asset jobs with tags and retry policies,
schedules, sensors) in a temporary directory, loads it the way the CLI does, then times
``check_repository`` separately. Prints the result; does not assert.

    .venv/bin/python bench/checker_bench.py
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from dagster_platform.checker import check_repository  # noqa: E402
from dagster_platform.loading import load_definitions  # noqa: E402
from dagster_platform.policy import RunPolicy  # noqa: E402

JOBS = 200
TARGET_SECONDS = 2.0

POLICY = {
    "schema_version": 1,
    "environment": "bench",
    "limits": {"max_cpu": 4096, "max_memory_mib": 16384, "max_ephemeral_storage_gib": 100},
    "retries": {"max_run_retries": 5, "max_op_retries": 5, "strategies": ["FROM_FAILURE", "ALL_STEPS"]},
    "priority": {"min": -10, "max": 10},
    "alert_teams": ["data-eng", "ml", "platform"],
    "default_alert_team": "platform",
    "required_tags": ["alert_team"],
    "locations": {"bench": {"server": {"cpu": 256, "memory": 1024}, "run": {"cpu": 512, "memory": 2048}}},
}


def generate_location(jobs: int) -> str:
    """Half op jobs (three ops each), half asset jobs over their own assets; every tenth job
    has a schedule; every job carries raw tags, and every seventh job a violation."""
    parts = [
        "from dagster import Definitions, RetryPolicy, ScheduleDefinition, asset, define_asset_job, job, op, sensor, RunRequest",
        "",
        "TEAMS = ['data-eng', 'ml', 'platform']",
        "SIZES = [('256', '512'), ('512', '2048'), ('1024', '4096'), ('2048', '8192'), ('4096', '16384')]",
        "jobs, assets, schedules = [], [], []",
        "",
        "def tags_for(i):",
        "    cpu, memory = SIZES[i % len(SIZES)]",
        "    tags = {'ecs/cpu': cpu, 'ecs/memory': memory, 'dagster/max_retries': str(i % 4),",
        "            'dagster/priority': str(i % 7 - 3), 'alert_team': TEAMS[i % 3]}",
        "    if i % 7 == 0:",
        "        tags['ecs/memory'] = '3000'  # not a Fargate size: the checker must find it",
        "    return tags",
        "",
        f"for i in range({jobs}):",
        "    if i % 2 == 0:",
        "        @op(name=f'extract_{i}', retry_policy=RetryPolicy(max_retries=i % 4, delay=5))",
        "        def extract():",
        "            return 1",
        "        @op(name=f'transform_{i}')",
        "        def transform(x):",
        "            return x",
        "        @op(name=f'load_{i}')",
        "        def load(x):",
        "            return None",
        "        @job(name=f'op_job_{i}', tags=tags_for(i))",
        "        def op_job():",
        "            load(transform(extract()))",
        "        jobs.append(op_job)",
        "    else:",
        "        @asset(name=f'table_{i}', retry_policy=RetryPolicy(max_retries=i % 3))",
        "        def table():",
        "            return i",
        "        @asset(name=f'report_{i}', deps=[table])",
        "        def report():",
        "            return None",
        "        assets.extend([table, report])",
        "        jobs.append(define_asset_job(f'asset_job_{i}', selection=[table, report], tags=tags_for(i)))",
        "    if i % 10 == 0:",
        "        schedules.append(ScheduleDefinition(name=f'schedule_{i}', job=jobs[-1], cron_schedule='0 * * * *',",
        "                                            tags={'dagster/priority': '2'}))",
        "",
        "@sensor(job=jobs[0])",
        "def nudge():",
        "    yield RunRequest()",
        "",
        "defs = Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=[nudge])",
    ]
    return "\n".join(parts) + "\n"


def main() -> None:
    policy = RunPolicy.from_dict(POLICY, source="bench policy")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench_definitions.py"
        path.write_text(textwrap.dedent(generate_location(JOBS)), encoding="utf-8")

        started = time.perf_counter()
        loaded = load_definitions(str(path), working_directory=directory, policy=policy)
        loading = time.perf_counter() - started

        started = time.perf_counter()
        result = check_repository(loaded.repository, policy, policy.location("bench"))
        checking = time.perf_counter() - started

    print(
        f"checker: {result.jobs} jobs checked in {checking:.3f} s after {loading:.1f} s loading definitions "
        f"(target <= {TARGET_SECONDS:g} s); {result.schedules} schedules, {result.sensors} sensors, "
        f"{result.nodes} assets/ops, {len(result.violations)} violations found"
    )


if __name__ == "__main__":
    main()
