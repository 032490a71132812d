"""Environment files: the examples are valid, and each wrong value stops synth with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from constructs_lib.config import ConfigError, load_environment, load_environments
from dagster_platform.fargate import FARGATE_TASK_SIZES

from tests.support import CONFIG_DIR, ROOT, write_config

DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


def with_changes(base: dict, path: str, value) -> dict:
    """A deep copy of ``base`` with ``path`` (dotted) set to ``value``; ``...`` deletes it."""
    data = yaml.safe_load(yaml.safe_dump(base))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def error_lines(tmp_path: Path, data: dict, name: str = "dev") -> list[str]:
    path = write_config(tmp_path, name, yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    return caught.value.lines


def test_example_environments_load_with_their_documented_differences():
    configs = {config.name: config for config in load_environments(CONFIG_DIR)}
    assert set(configs) == {"dev", "prod"}
    dev, prod = configs["dev"], configs["prod"]
    assert (dev.network.mode, dev.agent.replicas, dev.retain_stateful_resources) == ("public", 1, False)
    assert (prod.network.mode, prod.agent.replicas, prod.retain_stateful_resources) == ("private", 2, True)
    assert prod.agent.zero_downtime_deploys and not dev.agent.zero_downtime_deploys
    assert dev.agent.log_retention_days < prod.agent.log_retention_days
    assert dev.account is None and prod.account == "123456789012"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("agent.replica", 2, "agent.replica: unknown key; allowed keys under agent: "),
        ("agent.replicas", 0, "agent.replicas = 0: must be between 1 and 5"),
        ("agent.replicas", 9, "agent.replicas = 9: must be between 1 and 5"),
        ("agent.replicas", "two", "agent.replicas = 'two': must be a whole number, got str"),
        ("agent.memory", 4096,
         "agent.memory = 4096: not offered by Fargate with cpu 256; memory allowed for cpu 256 (MiB): 512, 1024, 2048"),
        ("agent.cpu", 300, "agent.cpu = 300: is not a Fargate cpu value; allowed: 256, 512, 1024, 2048, 4096, 8192, 16384"),
        ("agent.version", "latest", "agent.version = 'latest': must be a pinned release such as 1.13.27"),
        ("agent.log_retention_days", 10, "agent.log_retention_days = 10: is not a CloudWatch Logs retention; allowed days: 1, 3, 5, 7, 14, 30"),
        ("agent.token_secret.existing_secret_arn", "arn:aws:secretsmanager:eu-west-1:123:secret:x",
         "agent.token_secret.existing_secret_arn = 'arn:aws:secretsmanager:eu-west-1:123:secret:x': must be a Secrets Manager secret ARN"),
        ("dagster.organization", "", "dagster.organization = '': must be a non-empty Dagster+ organization name"),
        ("dagster.organization", ..., "dagster.organization: required but missing"),
        ("dagster.deployments", [], "dagster.deployments = []: must list at least one deployment"),
        ("network.mode", "hybrid", "network.mode = 'hybrid': Input should be 'public', 'private' or 'existing'"),
        ("account", "12345", "account = '12345': must be a 12-digit AWS account id"),
        ("region", "mars-1", "region = 'mars-1': must be an AWS region such as eu-west-1"),
        ("colour", "blue", "colour: unknown key; allowed keys: account, agent, alerting, cluster, code_locations, dagster, "
         "deployment_settings, health, limits, logging, name, network, region, retain_stateful_resources, storage, tags"),
    ],
)
def test_each_wrong_value_gives_one_line_naming_file_field_and_what_is_allowed(tmp_path, path, value, expected):
    lines = error_lines(tmp_path, with_changes(DEV, path, value))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 'dev.yaml'}: {expected}"), lines[0]


def test_every_fargate_cpu_rejects_a_memory_just_outside_its_range(tmp_path):
    for cpu, memories in FARGATE_TASK_SIZES.items():
        too_big = max(memories) + 1024
        data = with_changes(with_changes(DEV, "agent.cpu", cpu), "agent.memory", too_big)
        [line] = error_lines(tmp_path, data)
        assert f"agent.memory = {too_big}: not offered by Fargate with cpu {cpu}" in line
        assert ", ".join(map(str, memories)) in line


def test_existing_network_needs_vpc_and_subnets(tmp_path):
    data = with_changes(DEV, "network", {"mode": "existing", "vpc_id": "vpc-0123456789abcdef0"})
    [line] = error_lines(tmp_path, data)
    assert "network = " in line and "mode 'existing' needs vpc_id and at least one entry in subnet_ids" in line


def test_new_vpc_rejects_existing_only_fields(tmp_path):
    data = with_changes(DEV, "network.subnet_ids", ["subnet-0123456789abcdef0"])
    [line] = error_lines(tmp_path, data)
    assert "apply only to mode 'existing', not 'public'" in line


def test_name_must_match_file_name(tmp_path):
    [line] = error_lines(tmp_path, with_changes(DEV, "name", "staging"))
    assert line == f"{tmp_path / 'dev.yaml'}: name = 'staging': must match the file name 'dev'"


def test_invalid_yaml_names_the_line(tmp_path):
    path = write_config(tmp_path, "dev", "agent:\n  replicas: [1\n")
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    assert caught.value.lines[0].startswith(f"{path}: not valid YAML (line ")


def test_all_files_are_reported_together(tmp_path):
    write_config(tmp_path, "dev", yaml.safe_dump(with_changes(DEV, "agent.replicas", 0)))
    write_config(tmp_path, "qa", yaml.safe_dump(with_changes(DEV, "agent.cpu", 3)))
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    assert [line.split(":")[0] for line in caught.value.lines] == [str(tmp_path / "dev.yaml"), str(tmp_path / "qa.yaml")]


def test_synth_with_a_bad_value_prints_one_line_and_no_stack_trace(tmp_path):
    write_config(tmp_path, "dev", yaml.safe_dump(with_changes(DEV, "agent.replicas", 9)))
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={"PATH": str(Path(sys.executable).parent), "DAGSTER_PLATFORM_CONFIG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"{tmp_path / 'dev.yaml'}: agent.replicas = 9: must be between 1 and 5"
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_organization_and_region_give_the_agent_api_and_ui_urls():
    from constructs_lib.config import DagsterCloudSettings

    us = DagsterCloudSettings(organization="acme", deployments=("prod",))
    eu = DagsterCloudSettings(organization="acme", region="eu", deployments=("prod",))
    assert (us.agent_api_url, us.ui_url) == ("https://acme.agent.dagster.cloud", "https://acme.dagster.cloud")
    assert (eu.agent_api_url, eu.ui_url) == ("https://acme.agent.eu.dagster.cloud", "https://acme.eu.dagster.cloud")
