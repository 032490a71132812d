"""run_policy.json: loading, validation errors for people, round trip, schema, the active policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dagster_platform import fargate, limits
from dagster_platform.policy import (
    DEFAULT_POLICY_SOURCE,
    RUN_POLICY_JSON_SCHEMA,
    LocationDefaults,
    PolicyError,
    RunPolicy,
    TaskSize,
    active_policy,
    default_policy,
    load_policy,
    using_policy,
)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "run_policy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_loads_the_rendered_policy(policy_path: Path) -> None:
    policy = load_policy(policy_path)

    assert policy.environment == "prod"
    assert policy.label == "prod policy"
    assert policy.source == str(policy_path)
    assert policy.limits.max_cpu == 4096
    assert policy.retries.max_run_retries == 5
    assert policy.retries.strategies == ("FROM_FAILURE", "ALL_STEPS", "FROM_ASSET_FAILURE")
    assert (policy.priority.min, policy.priority.max) == (-10, 10)
    assert policy.alert_teams == ("data-eng", "ml", "platform")
    assert policy.default_alert_team == "platform"
    assert policy.required_tags == ("alert_team",)
    assert policy.deployment_settings.run_retries is not None
    assert policy.deployment_settings.run_retries.max_retries == 2
    assert policy.locations["analytics"] == LocationDefaults(
        name="analytics",
        server=TaskSize(cpu=256, memory=1024),
        run=TaskSize(cpu=512, memory=2048, ephemeral_storage_gib=21),
        alert_team="data-eng",
    )
    assert policy.locations["ml"].run.ephemeral_storage_gib is None


def test_to_dict_round_trips(prod_policy_data: dict[str, Any]) -> None:
    prod_policy_data["deployment_settings"]["run_queue"] = {"max_concurrent_runs": 20}
    policy = RunPolicy.from_dict(prod_policy_data, source="test")

    assert policy.to_dict() == prod_policy_data
    assert RunPolicy.from_dict(json.loads(json.dumps(policy.to_dict())), source="test") == policy


def test_json_schema_accepts_the_format_and_rejects_typos(prod_policy_data: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(RUN_POLICY_JSON_SCHEMA)
    validator.check_schema(RUN_POLICY_JSON_SCHEMA)
    validator.validate(prod_policy_data)
    validator.validate(default_policy().to_dict())

    prod_policy_data["limits"]["max_cpus"] = 4096
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(prod_policy_data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("environment"), "field 'environment' is required"),
        (
            lambda d: d.update(schema_version=2),
            "field 'schema_version' is 2; this dagster_platform reads version 1",
        ),
        (
            lambda d: d["limits"].update(max_cpu="4096"),
            "field 'limits.max_cpu' must be an integer, got string \"4096\"",
        ),
        (
            lambda d: d["limits"].update(max_cpu=True),
            "field 'limits.max_cpu' must be an integer, got boolean true",
        ),
        (
            lambda d: d["limits"].update(max_memory_mib=500),
            "field 'limits.max_memory_mib' is 500; allowed: 512..122880",
        ),
        (
            lambda d: d["retries"].update(max_run_retries=11),
            "field 'retries.max_run_retries' is 11; allowed: 0..10",
        ),
        (
            lambda d: d["retries"].update(strategies=["FROM_FAILURE", "SOMETIMES"]),
            "field 'retries.strategies[1]' is 'SOMETIMES'; allowed: FROM_FAILURE, ALL_STEPS, FROM_ASSET_FAILURE",
        ),
        (lambda d: d["priority"].update(min=5, max=1), "field 'priority' has min 5 above max 1"),
        (
            lambda d: d.update(alert_teams=["Data Eng"]),
            "field 'alert_teams[0]' is 'Data Eng'; team names must match",
        ),
        (
            lambda d: d.update(default_alert_team="ops"),
            "field 'default_alert_team' is 'ops', not one of alert_teams: data-eng, ml, platform",
        ),
        (
            lambda d: d.update(required_tags=["alert_team", "alert_team"]),
            "field 'required_tags[1]' repeats 'alert_team'",
        ),
        (lambda d: d.update(team="x"), "field 'team' is not a known field; allowed: schema_version"),
        (
            lambda d: d["deployment_settings"]["run_retries"].update(max_retries=6),
            "field 'deployment_settings.run_retries.max_retries' is 6; allowed: 0..5",
        ),
        (
            lambda d: d["locations"]["ml"]["run"].update(memory=1024),
            "field 'locations.ml.run' is not a Fargate task size: memory 1024 MiB is not offered by Fargate with cpu 2048",
        ),
        (
            lambda d: d["locations"]["ml"]["run"].update(cpu=8192, memory=16384),
            "field 'locations.ml.run.cpu' is 8192, above limits.max_cpu=4096",
        ),
        (
            lambda d: d["locations"]["ml"].update(alert_team="finance"),
            "field 'locations.ml.alert_team' is 'finance', not one of alert_teams",
        ),
        (lambda d: d["locations"]["ml"].pop("server"), "field 'locations.ml.server' is required"),
    ],
)
def test_errors_name_the_file_and_the_field(
    tmp_path: Path, prod_policy_data: dict[str, Any], mutate: Any, message: str
) -> None:
    mutate(prod_policy_data)
    path = write(tmp_path, prod_policy_data)

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_unreadable_files_are_policy_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"run_policy.json: run policy file not found$"):
        load_policy(tmp_path / "run_policy.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1,', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"broken.json: not valid JSON \(line 1, column 22: "):
        load_policy(broken)
    with pytest.raises(PolicyError, match=r"field '<top level>' must be an object, got array"):
        load_policy(write(tmp_path, []))


def test_unknown_location_lists_the_known_ones(policy_path: Path) -> None:
    with pytest.raises(
        PolicyError, match=r"unknown location 'billing'; the prod policy defines: analytics, ml$"
    ):
        load_policy(policy_path).location("billing")


def test_default_policy_is_fargate_and_the_hard_bounds() -> None:
    policy = default_policy()

    assert policy.source == DEFAULT_POLICY_SOURCE
    assert policy.limits.max_cpu == max(fargate.FARGATE_TASK_SIZES)
    assert policy.limits.max_memory_mib == 120 * 1024
    assert policy.limits.max_ephemeral_storage_gib == fargate.EPHEMERAL_STORAGE_GIB[1]
    assert policy.retries.max_run_retries == limits.RUN_RETRIES_MAX
    assert policy.retries.max_op_retries == limits.OP_RETRIES_MAX
    assert policy.retries.strategies == limits.RETRY_STRATEGIES
    assert (policy.priority.min, policy.priority.max) == limits.PRIORITY_RANGE
    assert policy.alert_teams == () and policy.required_tags == () and policy.locations == {}
    assert RunPolicy.from_dict(policy.to_dict(), source=DEFAULT_POLICY_SOURCE) == policy


def test_active_policy_order(policy_path: Path, prod_policy_data: dict[str, Any]) -> None:
    assert active_policy({}) == default_policy()
    assert active_policy({"DAGSTER_PLATFORM_RUN_POLICY": str(policy_path)}) == load_policy(policy_path)

    prod_policy_data["environment"] = "dev"
    inline = active_policy({"DAGSTER_PLATFORM_RUN_POLICY_JSON": json.dumps(prod_policy_data)})
    assert inline.environment == "dev"
    assert inline.source == "$DAGSTER_PLATFORM_RUN_POLICY_JSON"

    with pytest.raises(PolicyError, match="set only one of them"):
        active_policy(
            {"DAGSTER_PLATFORM_RUN_POLICY": str(policy_path), "DAGSTER_PLATFORM_RUN_POLICY_JSON": "{}"}
        )
    with pytest.raises(PolicyError, match=r"missing\.json: run policy file not found"):
        active_policy({"DAGSTER_PLATFORM_RUN_POLICY": str(policy_path.with_name("missing.json"))})

    with using_policy(inline):
        assert active_policy({"DAGSTER_PLATFORM_RUN_POLICY": str(policy_path)}) is inline
    assert active_policy({}) == default_policy()


def test_active_policy_rereads_a_changed_file(tmp_path: Path, prod_policy_data: dict[str, Any]) -> None:
    path = write(tmp_path, prod_policy_data)
    assert active_policy({"DAGSTER_PLATFORM_RUN_POLICY": str(path)}).priority.max == 10

    prod_policy_data["priority"]["max"] = 3
    path.write_text(json.dumps(prod_policy_data), encoding="utf-8")
    os.utime(path, (1, 1))  # a different mtime, whatever the file system's resolution
    assert active_policy({"DAGSTER_PLATFORM_RUN_POLICY": str(path)}).priority.max == 3


def test_pure_modules_import_only_the_standard_library(subprocess_env) -> None:
    code = (
        "import sys\n"
        "import dagster_platform.policy, dagster_platform.rules, dagster_platform.tags\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "third_party = loaded - set(sys.stdlib_module_names) - {'dagster_platform', '__main__'}\n"
        "print(sorted(third_party))\n"
    )
    completed = subprocess.run(
        # -S: no site-packages at all, so a third-party import would fail outright
        [sys.executable, "-S", "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert completed.stdout.strip() == "[]"


def test_ecs_override_allowances_and_concurrency(prod_policy_data: dict[str, Any]) -> None:
    prod_policy_data["ecs_overrides"] = {"role_arns": ["arn:aws:iam::123456789012:role/runs"], "subnets": ["subnet-0aaa1111bbbb2222c"]}
    prod_policy_data["deployment_settings"]["concurrency"] = {
        "runs": {"max_concurrent_runs": 30, "tag_concurrency_limits": [{"key": "dagster/backfill", "limit": 10}]},
        "pools": {"default_limit": 5},
    }
    policy = RunPolicy.from_dict(prod_policy_data, source="test")

    assert policy.ecs_overrides.role_arns == ("arn:aws:iam::123456789012:role/runs",)
    assert policy.ecs_overrides.subnets == ("subnet-0aaa1111bbbb2222c",)
    assert policy.ecs_overrides.security_groups == ()
    assert (policy.max_concurrent_runs, policy.pool_default_limit) == (30, 5)
    assert policy.tag_concurrency_limits == ({"key": "dagster/backfill", "limit": 10},)
    assert RunPolicy.from_dict(policy.to_dict(), source="test") == policy
    jsonschema.Draft202012Validator(RUN_POLICY_JSON_SCHEMA).validate(policy.to_dict())
    assert default_policy().pool_default_limit is None and default_policy().max_concurrent_runs is None


@pytest.mark.parametrize(
    ("ecs_overrides", "message"),
    [
        ({"roles": []}, "field 'ecs_overrides.roles' is not a known field; allowed: role_arns, subnets, security_groups"),
        ({"subnets": "subnet-1"}, "field 'ecs_overrides.subnets' must be a list of strings, got string"),
        ({"security_groups": ["sg-1", "sg-1"]}, "field 'ecs_overrides.security_groups[1]' repeats 'sg-1'"),
    ],
)
def test_ecs_override_allowance_errors(prod_policy_data: dict[str, Any], ecs_overrides: dict, message: str) -> None:
    prod_policy_data["ecs_overrides"] = ecs_overrides
    with pytest.raises(PolicyError) as raised:
        RunPolicy.from_dict(prod_policy_data, source="run_policy.json")
    assert str(raised.value) == f"run_policy.json: {message}"
