"""``python -m dagster_platform check|explain`` as a subprocess over a hand-written location with
every mistake (the 12 of the original report and the ones found since) and over a location that
uses every way a run gets its settings correctly (no false positives)."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import PROD_POLICY, REPO_ROOT

SAMPLE = Path("tests/dagster_platform/sample_location")
EVERY = str(SAMPLE / "every_mistake_definitions.py")
CLEAN = str(SAMPLE / "clean_definitions.py")

#: config/prod.yaml's caps and concurrency, as run_policy.json carries them.
PROD_LIKE: dict[str, Any] = copy.deepcopy(PROD_POLICY)
PROD_LIKE["limits"]["max_memory_mib"] = 30720
PROD_LIKE["deployment_settings"]["concurrency"] = {
    "runs": {
        "max_concurrent_runs": 30,
        "tag_concurrency_limits": [
            {"key": "dagster/backfill", "limit": 10},
            {"key": "alert_team", "value": "ml", "limit": 6},
        ],
    },
    "pools": {"default_limit": 5},
}


@pytest.fixture(scope="module")
def prod_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "run_policy.json"
    path.write_text(json.dumps(PROD_LIKE), encoding="utf-8")
    return path


def last_daily_partition() -> str:
    return (datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)).isoformat()


def expected_every_mistake_lines() -> list[str]:
    e = EVERY
    return [
        # the 7 the checker caught
        f"{e}:40: job 'mistake_01_fargate_pair': tag ecs/memory='4096': not offered by Fargate with ecs/cpu=256; allowed: 512, 1024, 2048",
        f"{e}:45: job 'mistake_02_run_retries': tag dagster/max_retries='9': above the prod policy cap retries.max_run_retries=5; allowed: 0..5",
        f"{e}:50: job 'mistake_03_unknown_team': tag alert_team='marketing': not a team in the prod policy; allowed: data-eng, ml, platform",
        f"{e}:55: job 'mistake_04_no_team': missing required tag alert_team (required_tags of the prod policy)",
        f"{e}:60: job 'mistake_05_strategy': tag dagster/retry_strategy='EVERYTHING': not a retry strategy the prod policy allows; "
        "allowed: FROM_FAILURE, ALL_STEPS, FROM_ASSET_FAILURE",
        f"{e}:65: job 'mistake_06_priority': tag dagster/priority='50': outside the prod policy range; allowed: -10..10",
        # the 5 it missed: 8 (ECS task overrides), 9 (partitioned schedule), 10 (asset team), 11 (RetryRequested), 12 (k8s)
        f"{e}:78: job 'mistake_08_task_overrides': tag ecs/task_overrides: cpu='16384': above the prod policy cap limits.max_cpu=4096",
        f"{e}:78: job 'mistake_08_task_overrides': tag ecs/task_overrides: memory='122880': above the prod policy cap limits.max_memory_mib=30720",
        f"{e}:108: job 'mistake_12_k8s_requests_above_limits': tag dagster-k8s/config: container_config.resources.requests.cpu='2': "
        "above its limit 1; Kubernetes rejects a request above the limit",
        f"{e}:108: job 'mistake_12_k8s_requests_above_limits': tag dagster-k8s/config: container_config.resources.requests.memory='8Gi': "
        "above its limit 4Gi; Kubernetes rejects a request above the limit",
        # found since
        f"{e}:123: job 'mistake_13_container_overrides': tag ecs/container_overrides: command='[\"sh\"]': replaces the command that executes the run",
        f"{e}:123: job 'mistake_13_container_overrides': tag ecs/container_overrides: memory='8192': above the task's memory 2048 "
        "(ecs/memory); ECS rejects a container larger than its task",
        f"{e}:135: job 'mistake_14_foreign_network_and_role': tag ecs/task_overrides: taskRoleArn='arn:aws:iam::123456789012:role/admin': "
        "not a role this platform created for runs; allowed: none (the location's own roles apply)",
        f"{e}:135: job 'mistake_14_foreign_network_and_role': tag ecs/run_task_kwargs: taskDefinition='someone-elses-task:3': "
        "replaces the location's task definition (its image, roles and logging)",
        f"{e}:135: job 'mistake_14_foreign_network_and_role': tag ecs/run_task_kwargs: "
        "networkConfiguration.awsvpcConfiguration.subnets[0]='subnet-0123456789abcdef0': not a subnet this platform created or was given; "
        "allowed: none (the location default applies)",
        f"{e}:135: job 'mistake_14_foreign_network_and_role': tag ecs/run_task_kwargs: "
        "networkConfiguration.awsvpcConfiguration.securityGroups[0]='sg-0123456789abcdef0': not a security group this platform created "
        "or was given; allowed: none (the location default applies)",
        f"{e}:176: job 'mistake_18_k8s_quantity': tag dagster-k8s/config: container_config.resources.limits.memory='4 gigs': "
        "'4 gigs' is not a Kubernetes quantity (a number with an optional suffix: m, k, M, G, T, Ki, Mi, Gi, Ti...)",
        f"{e}:95: schedule 'events_job_schedule': run request '{last_daily_partition()}': tag dagster/priority='20': "
        "outside the prod policy range; allowed: -10..10",
        f"{e}:161: schedule 'mistake_16_schedule_function': run request: tag dagster/max_retries='7': above the prod policy cap "
        "retries.max_run_retries=5; allowed: 0..5",
        f"{e}:171: sensor 'mistake_17_automation': run_tags: tag dagster/priority='99': outside the prod policy range; allowed: -10..10",
        f"{e}:98: asset 'mistake_10_asset_team': tag alert_team='nobody': not a team in the prod policy; allowed: data-eng, ml, platform "
        "(the platform's sensors route this asset's freshness and check alerts by it)",
        f"{e}:70: op 'mistake_07_op_retry_policy': RetryPolicy max_retries=8: above the prod policy cap retries.max_op_retries=5; allowed: 0..5",
        f"{e}:151: op 'mistake_15_big_step': step tag ecs/cpu='8192': above the prod policy cap limits.max_cpu=4096; "
        "allowed: 256, 512, 1024, 2048, 4096",
        f"{e}:105: RetryRequested: max_retries=10: above the prod policy cap retries.max_op_retries=5; allowed: 0..5",
        f"{e}:108: warning: job 'mistake_12_k8s_requests_above_limits': tag dagster-k8s/config: ignored by this platform's ECS run "
        "launcher: runs get ecs/cpu and ecs/memory (or the location's run size), not these Kubernetes resources",
        f"{e}:176: warning: job 'mistake_18_k8s_quantity': tag dagster-k8s/config: ignored by this platform's ECS run launcher: "
        "runs get ecs/cpu and ecs/memory (or the location's run size), not these Kubernetes resources",
    ]


def test_every_mistake_is_reported_with_its_file_and_line(platform_cli, prod_like: Path) -> None:
    completed = platform_cli("check", "--policy", str(prod_like), EVERY)

    assert completed.returncode == 1, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout.splitlines() == expected_every_mistake_lines()


def test_the_five_the_checker_missed_are_caught_against_the_rendered_prod_policy(platform_cli, tmp_path: Path) -> None:
    """The same location against run_policy.json rendered from config/prod.yaml by the CDK app's renderer."""
    from constructs_lib.code_locations.rendering import render_run_policy_json
    from constructs_lib.config import load_environment

    policy = tmp_path / "run_policy.json"
    policy.write_text(render_run_policy_json(load_environment(REPO_ROOT / "config" / "prod.yaml")), encoding="utf-8")

    from dagster_platform.policy import load_policy

    rendered = load_policy(policy)
    assert (rendered.limits.max_cpu, rendered.limits.max_memory_mib) == (4096, 30720)
    assert rendered.pool_default_limit == 5  # deployment_settings.concurrency reaches the checker
    assert rendered.ecs_overrides.role_arns == () and rendered.ecs_overrides.subnets == ()  # prod: new private VPC

    completed = platform_cli("check", "--policy", str(policy), "--location", "analytics", EVERY)

    assert completed.returncode == 1, completed.stderr
    out = completed.stdout
    assert "job 'mistake_08_task_overrides': tag ecs/task_overrides: cpu='16384': above the prod policy cap limits.max_cpu=4096" in out
    assert "tag ecs/task_overrides: memory='122880': above the prod policy cap limits.max_memory_mib=30720" in out
    assert "schedule 'events_job_schedule': run request" in out and "tag dagster/priority='20'" in out
    assert "asset 'mistake_10_asset_team': tag alert_team='nobody'" in out
    assert "RetryRequested: max_retries=10: above the prod policy cap retries.max_op_retries=5" in out
    assert "container_config.resources.requests.memory='8Gi': above its limit 4Gi" in out


def test_the_clean_location_passes_with_and_without_its_location(platform_cli, prod_like: Path) -> None:
    for extra in (["--location", "ml"], []):
        completed = platform_cli("check", "--policy", str(prod_like), *extra, CLEAN)

        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert completed.stdout.splitlines() == [
            "ok: 3 jobs, 2 schedules, 7 sensors, 5 assets/ops checked against prod policy"
        ]


def test_warnings_alone_do_not_fail_the_check(platform_cli, prod_like: Path, tmp_path: Path) -> None:
    definitions = tmp_path / "definitions.py"
    definitions.write_text(
        "import json\n"
        "from dagster import Definitions, RetryRequested, job, op\n\n"
        "@op(tags={'ecs/cpu': '1024'})\n"
        "def call(context):\n"
        "    raise RetryRequested(max_retries=context.retry_number + 1)\n\n"
        "@job(tags={'alert_team': 'ml', 'dagster-k8s/config': json.dumps({'container_config': {'resources': "
        "{'requests': {'cpu': '250m', 'memory': '64Mi'}, 'limits': {'cpu': '500m', 'memory': '128Mi'}}}})})\n"
        "def portable():\n"
        "    call()\n\n"
        "defs = Definitions(jobs=[portable])\n",
        encoding="utf-8",
    )

    completed = platform_cli("check", "--policy", str(prod_like), str(definitions))

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines() == [
        f"{definitions}:8: warning: job 'portable': tag dagster-k8s/config: ignored by this platform's ECS run launcher: "
        "runs get ecs/cpu and ecs/memory (or the location's run size), not these Kubernetes resources",
        f"{definitions}:4: warning: op 'call': step tags ecs/cpu are ignored by job 'portable''s executor "
        "'multi_or_in_process_executor': only dagster-aws's ecs_executor sizes steps; set them on the job to size the run",
        f"{definitions}:6: warning: RetryRequested: max_retries computed at run time "
        "(RetryRequested(max_retries=context.retry_number + 1)); the run guard stops a step retried more than "
        "retries.max_op_retries=5 times",
        "ok: 1 jobs, 0 schedules, 0 sensors, 1 assets/ops checked against prod policy",
    ]


def test_explain_shows_every_launch_path_with_overrides_retries_and_concurrency(platform_cli, prod_like: Path) -> None:
    completed = platform_cli("explain", "--policy", str(prod_like), "--location", "ml", "--json", CLEAN, "train")

    assert completed.returncode == 0, completed.stderr
    explanation = json.loads(completed.stdout)
    launches = {launch["path"]: launch for launch in explanation["launches"]}
    assert list(launches) == [
        "launched directly (UI, API, backfill; tags typed at launch are checked by the run guard)",
        "schedule 'nightly_train'",
    ]
    direct = {s["setting"]: (s["value"], s["layer"], s["source"]) for s in explanation["settings"]}
    assert direct["cpu"] == ("4096", "job tag", "ecs/task_overrides: cpu")  # the override beats ecs/cpu=2048
    assert direct["memory"] == ("16384", "job tag", "ecs/task_overrides: memory")
    assert direct["container_overrides"][1:] == ("job tag", "ecs/container_overrides")
    assert direct["run_task_kwargs"][1:] == ("job tag", "ecs/run_task_kwargs")
    assert direct["max_retries"] == ("2", "deployment setting", "deployment_settings.run_retries.max_retries")
    scheduled = {s["setting"]: (s["value"], s["layer"]) for s in launches["schedule 'nightly_train'"]["settings"]}
    assert scheduled["max_retries"] == ("1", "launch tag")  # the RunRequest's retries(1), found by evaluating the tick
    assert scheduled["cpu"] == ("4096", "job tag")
    assert explanation["run_time_retries"] == [
        {"subject": "op 'call_api'", "max_retries": 3, "where": f"{CLEAN}:55"}
    ]
    assert [(c["limit"], c["value"]) for c in explanation["concurrency"]] == [
        ("max_concurrent_runs", "30"),
        ("dagster/backfill (backfill runs)", "10"),
        ("tag alert_team=ml", "6"),
    ]


def test_explain_text_for_a_partitioned_asset_job(platform_cli, prod_like: Path) -> None:
    completed = platform_cli("explain", "--policy", str(prod_like), "--location", "analytics", CLEAN, "events_job")

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "  asset 'events': max_retries=3 (set on the asset); up to 4 attempts per run, 12 over 3 run attempts" in lines
    assert (
        "  asset 'events': multi_run(max_partitions_per_run=7): one run per 7 partitions, each with this job's tags; "
        "at most 10 backfill runs at once (dagster/backfill)"
    ) in lines
    assert "  pool 'warehouse' (asset 'events')  5  (deployment_settings.concurrency.pools.default_limit)" in lines
    assert lines[-3] == (
        "launched by schedule 'events_job_schedule': (one tick evaluated: 1 run request(s), the first shown: "
        f"run request '{last_daily_partition()}')"
    )
    assert lines[-1].split() == ["priority", "5", "launch", "tag", "dagster/priority"]


def test_explain_shows_a_computed_retry_at_the_guards_cap(platform_cli, prod_like: Path, tmp_path: Path) -> None:
    definitions = tmp_path / "definitions.py"
    definitions.write_text(
        "from dagster import Definitions, RetryRequested, job, op\n\n"
        "@op\n"
        "def call(context):\n"
        "    raise RetryRequested(max_retries=int(context.run.tags['n']))\n\n"
        "@job(tags={'alert_team': 'ml', 'dagster/max_retries': '1'})\n"
        "def portable():\n"
        "    call()\n\n"
        "defs = Definitions(jobs=[portable])\n",
        encoding="utf-8",
    )
    completed = platform_cli("explain", "--policy", str(prod_like), str(definitions), "portable")

    assert completed.returncode == 0, completed.stderr
    assert (
        f"  op 'call': RetryRequested with max_retries computed at run time ({definitions}:5); the run guard stops it past "
        "retries.max_op_retries=5; up to 6 attempts per run, 12 over 2 run attempts"
    ) in completed.stdout.splitlines()


def test_a_helper_error_the_checker_cannot_defer_names_its_line_once(platform_cli, prod_like: Path, tmp_path: Path) -> None:
    definitions = tmp_path / "definitions.py"
    definitions.write_text(
        "from dagster import Definitions, job, op\n"
        "from dagster_platform.tags import priority, run_tags\n\n"
        "@op\n"
        "def step():\n"
        "    pass\n\n"
        "@job(tags=run_tags(priority(1), priority(2)))\n"
        "def twice():\n"
        "    step()\n\n"
        "defs = Definitions(jobs=[twice])\n",
        encoding="utf-8",
    )

    completed = platform_cli("check", "--policy", str(prod_like), str(definitions))

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.splitlines() == [
        f"{definitions}:8: job 'twice': run_tags: dagster/priority is set twice, to '1' and '2'"
    ]
