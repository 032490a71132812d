"""Rules the sample locations do not reach: Kubernetes quantities, pools, schedules that cannot be
evaluated, ECS executor step sizes, and where definitions are written."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import AssetSelection, Definitions, ScheduleDefinition, asset, job, op, schedule
from dagster_aws.ecs import ecs_executor
from hypothesis import given
from hypothesis import strategies as st

from dagster_platform.checker import check_repository
from dagster_platform.k8s_config import QuantityError, check_k8s_config, parse_quantity
from dagster_platform.policy import RunPolicy
from dagster_platform.source_index import DefinitionIndex, enclosing_definition, retry_requested_calls


@pytest.fixture
def prod(prod_policy_data: dict) -> RunPolicy:
    return RunPolicy.from_dict(prod_policy_data, source="test")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("4G", Decimal(4 * 10**9)),
        ("1e3", Decimal(1000)),
        ("5E-1", Decimal("0.5")),
        (3, Decimal(3)),
    ],
)
def test_kubernetes_quantities(text, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["4 gigs", "1GB", "1gi", "-1", "", "Mi", "1.2.3", True, None, "0x10"])
def test_malformed_quantities_are_refused(text) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@given(
    number=st.integers(min_value=0, max_value=10**6),
    suffix=st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti"]),
)
def test_every_integer_with_a_suffix_scales_exactly(number: int, suffix: str) -> None:
    factor = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    assert parse_quantity(f"{number}{suffix}") == number * Decimal(factor[suffix])


def test_k8s_sizes_against_the_caps(prod: RunPolicy) -> None:
    # prod caps: 4096 CPU units (4 cores), 16384 MiB; one byte over the memory cap is over
    config = {"container_config": {"resources": {"limits": {"cpu": "4500m", "memory": "16Gi"}, "requests": {"memory": "17179869185"}}}}
    problems = [(severity, path, value, reason) for severity, path, value, reason in check_k8s_config(json.dumps(config), prod)]

    assert problems[0][0] == "warning"
    assert problems[1:] == [
        ("error", "container_config.resources.requests.memory", "17179869185", "above the prod policy cap limits.max_memory_mib=16384 (16384Mi)"),
        ("error", "container_config.resources.limits.cpu", "4500m", "above the prod policy cap limits.max_cpu=4096 (4 cores)"),
        (
            "error",
            "container_config.resources.requests.memory",
            "17179869185",
            "above its limit 16Gi; Kubernetes rejects a request above the limit",
        ),
    ]
    within = {"container_config": {"resources": {"limits": {"cpu": "4", "memory": "16Gi"}, "requests": {"cpu": "4000m"}}}}
    assert [p[0] for p in check_k8s_config(json.dumps(within), prod)] == ["warning"]


def test_unknown_k8s_keys_and_bad_json(prod: RunPolicy) -> None:
    assert [p[3] for p in check_k8s_config("{", prod)] == ["not valid JSON (Expecting property name enclosed in double quotes at column 2)"]
    reasons = [p[3] for p in check_k8s_config(json.dumps({"container": {}}), prod)]
    assert reasons[1].startswith("not a key dagster-k8s reads; allowed: container_config, ")


@op(pool="warehouse")
def load() -> None:
    return None


@op(tags={"dagster/concurrency_key": "legacy"})
def legacy() -> None:
    return None


@job(tags={"alert_team": "ml"})
def pooled() -> None:
    load()
    legacy()


def test_pools_need_a_limit_in_the_deployment(prod_policy_data: dict) -> None:
    repository = Definitions(jobs=[pooled]).get_repository_def()
    prod_policy_data["deployment_settings"]["concurrency"] = {"runs": {"max_concurrent_runs": 10}}
    unlimited = RunPolicy.from_dict(prod_policy_data, source="test")

    messages = [(v.subject, v.message) for v in check_repository(repository, unlimited).violations]
    assert messages == [
        (
            "op 'load'",
            "pool 'warehouse' (pool=) has no limit in the prod policy: deployment_settings.concurrency.pools.default_limit "
            "is not set, so the pool does not limit anything",
        ),
        (
            "op 'legacy'",
            "pool 'legacy' (tag dagster/concurrency_key) has no limit in the prod policy: "
            "deployment_settings.concurrency.pools.default_limit is not set, so the pool does not limit anything",
        ),
    ]

    prod_policy_data["deployment_settings"]["concurrency"]["pools"] = {"default_limit": 3}
    limited = RunPolicy.from_dict(prod_policy_data, source="test")
    assert check_repository(repository, limited).violations == []
    # without deployment settings (the built-in policy) nothing is known about pools: no finding
    del prod_policy_data["deployment_settings"]["concurrency"]
    assert check_repository(repository, RunPolicy.from_dict(prod_policy_data, source="test")).violations == []


@schedule(cron_schedule="0 * * * *", job=pooled)
def needs_a_database(context):
    raise ConnectionError("warehouse unreachable\nsecond line")


def test_a_schedule_that_cannot_be_evaluated_is_a_warning(prod: RunPolicy) -> None:
    repository = Definitions(jobs=[pooled], schedules=[needs_a_database]).get_repository_def()

    [violation] = [v for v in check_repository(repository, prod).violations if v.subject.startswith("schedule")]

    assert violation.severity == "warning"
    assert violation.message.startswith("could not evaluate its run requests (")
    assert "warehouse unreachable" in violation.message and "second line" not in violation.message


@op(tags={"ecs/cpu": "1024", "ecs/memory": "2048", "ecs/task_overrides": json.dumps({"memory": "9000"})})
def big_step() -> None:
    return None


@job(tags={"alert_team": "ml"}, executor_def=ecs_executor)
def per_step() -> None:
    big_step()


def test_ecs_executor_step_tags_follow_the_run_rules(prod: RunPolicy) -> None:
    repository = Definitions(jobs=[per_step]).get_repository_def()

    messages = [v.message for v in check_repository(repository, prod).violations]

    assert messages == [
        "step tag ecs/task_overrides: memory='9000': not offered by Fargate with cpu 1024 (ecs/cpu); "
        "memory allowed for cpu 1024: 2048, 3072, 4096, 5120, 6144, 7168, 8192"
    ]


def test_asset_selection_schedules_need_the_required_tags_once(prod: RunPolicy) -> None:
    @asset
    def clicks() -> None:
        return None

    repository = Definitions(
        assets=[clicks],
        schedules=[ScheduleDefinition(name="hourly", target=AssetSelection.assets(clicks), cron_schedule="0 * * * *")],
    ).get_repository_def()

    messages = [(v.subject, v.message) for v in check_repository(repository, prod).violations]
    assert messages == [("schedule 'hourly'", "missing required tag alert_team (required_tags of the prod policy)")]


def test_where_definitions_are_written(tmp_path: Path) -> None:
    source = tmp_path / "defs.py"
    source.write_text(
        "from dagster import *\n"
        "daily = define_asset_job(\n"
        "    'daily_job',\n"
        ")\n"
        "nightly = build_schedule_from_partitioned_job(daily)\n"
        "named = build_schedule_from_partitioned_job(daily, name='explicit')\n"
        "@job(name='renamed')\n"
        "def original():\n"
        "    pass\n"
        "def helper(n):\n"
        "    raise RetryRequested(max_retries=n)\n"
        "def other():\n"
        "    raise RetryRequested()\n",
        encoding="utf-8",
    )
    index = DefinitionIndex.build([str(source)])

    assert str(index.find("daily_job")) == f"{source}:2"
    assert str(index.find("daily_job_schedule")) == f"{source}:5"
    assert str(index.find("explicit")) == f"{source}:6"
    assert str(index.find("renamed")) == f"{source}:7"
    assert index.find("nowhere") is None
    calls = retry_requested_calls([str(source)])
    assert [(c.where.line, c.max_retries, c.function) for c in calls] == [(11, None, "helper"), (13, 1, "other")]
    definition = enclosing_definition(str(source), 3)
    assert definition is not None and (definition.kind, definition.name) == ("job", "daily_job")
    assert enclosing_definition(str(source), 9) is None  # the body of a job is not where its tags are


@job(
    tags={"alert_team": "ml"},
    executor_def=ecs_executor.configured({"cpu": 8192, "memory": 16384}),
)
def configured_executor() -> None:
    big_step()


@job(tags={"alert_team": "ml"}, executor_def=ecs_executor, config={"execution": {"config": {"cpu": 512, "memory": 8192}}})
def run_config_executor() -> None:
    big_step()


def test_ecs_executor_config_sizes_every_step(prod: RunPolicy) -> None:
    repository = Definitions(jobs=[configured_executor, run_config_executor]).get_repository_def()

    messages = [(v.subject, v.message) for v in check_repository(repository, prod).violations]

    assert messages == [
        (
            "job 'configured_executor'",
            "ecs_executor config tag ecs/cpu='8192': above the prod policy cap limits.max_cpu=4096; allowed: 256, 512, 1024, 2048, 4096",
        ),
        (
            "op 'big_step'",
            "step tag ecs/task_overrides: memory='9000': not offered by Fargate with cpu 1024 (ecs/cpu); "
            "memory allowed for cpu 1024: 2048, 3072, 4096, 5120, 6144, 7168, 8192",
        ),
        (
            "job 'run_config_executor'",
            "ecs_executor config tag ecs/memory='8192': not offered by Fargate with ecs/cpu=512; allowed: 1024, 2048, 3072, 4096",
        ),
    ]


def test_explain_lists_sensor_and_automation_launches(prod: RunPolicy) -> None:
    from dagster import AutomationCondition, AutomationConditionSensorDefinition, RunRequest, define_asset_job, sensor

    from dagster_platform.explain import explain_job

    @asset(automation_condition=AutomationCondition.eager())
    def table() -> None:
        return None

    table_job = define_asset_job(
        "table_job",
        selection=[table],
        tags={"alert_team": "ml", "ecs/task_overrides": json.dumps({"cpu": "8192", "memory": "16384"})},
    )

    @sensor(job=table_job)
    def on_file():
        yield RunRequest()

    automation = AutomationConditionSensorDefinition(
        "automation", target=AssetSelection.all(), run_tags={"dagster/priority": "2"}
    )
    repository = Definitions(assets=[table], jobs=[table_job], sensors=[on_file, automation]).get_repository_def()

    explanation = explain_job(repository, "table_job", prod, prod.location("analytics"))

    assert [launch.path for launch in explanation.launches][1:] == ["automation sensor 'automation'", "sensor 'on_file'"]
    automated = explanation.launches[1]
    assert automated.note.startswith("(materializes table in runs of its own")
    assert automated.setting("cpu").source == "locations.analytics.run.cpu"  # not the asset job's override
    assert automated.setting("priority").layer == "launch tag"
    cpu = explanation.setting("cpu")
    assert (cpu.value, cpu.source, cpu.problem) == (
        "8192",
        "ecs/task_overrides: cpu",
        "above the prod policy cap limits.max_cpu=4096",
    )
