"""Environment files: the examples are valid, and each wrong value stops synth with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib.config import ConfigError, load_environment, load_environments
from dagster_platform.fargate import FARGATE_TASK_SIZES

from tests.support import CONFIG_DIR, ROOT, config_with, write_config

DEV = yaml.safe_load((CONFIG_DIR / "dev.yaml").read_text())


def with_changes(base: dict, path: str, value) -> dict:
    return config_with(base, (path, value))


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
         "agent.token_secret.existing_secret_arn = 'arn:aws:secretsmanager:eu-west-1:123:secret:x': must be a complete Secrets Manager secret ARN"),
        ("dagster.organization", "", "dagster.organization = '': must be a non-empty Dagster+ organization name"),
        ("dagster.organization", ..., "dagster.organization: required but missing"),
        ("dagster.deployments", [], "dagster.deployments = []: must list at least one deployment"),
        ("network.mode", "hybrid", "network.mode = 'hybrid': Input should be 'public', 'private' or 'existing'"),
        ("account", "12345", "account = '12345': must be a 12-digit AWS account id"),
        ("region", "mars-1", "region = 'mars-1': is not an AWS region"),
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
    data = with_changes(DEV, "network", {"mode": "existing"})
    source = tmp_path / "dev.yaml"
    assert error_lines(tmp_path, data) == [
        f"{source}: network.vpc_id: mode 'existing' needs vpc_id",
        f"{source}: network.subnet_ids = []: mode 'existing' needs at least one subnet id",
        f"{source}: network.assign_public_ip: mode 'existing' needs assign_public_ip (true for public subnets without NAT)",
    ]


def test_new_vpc_rejects_existing_only_fields(tmp_path):
    data = with_changes(DEV, "network.subnet_ids", ["subnet-0123456789abcdef0"])
    [line] = error_lines(tmp_path, data)
    assert line.endswith("network.subnet_ids = ['subnet-0123456789abcdef0']: applies only to mode 'existing', not 'public'")


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


PROD = yaml.safe_load((CONFIG_DIR / "prod.yaml").read_text())


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("code_locations.forecasting.run.memory", 122880,
         "code_locations.forecasting.run.memory = 122880: not offered by Fargate with cpu 4096"),
        ("code_locations.analytics.run", {"cpu": 8192, "memory": 16384},
         "code_locations.analytics.run.cpu = 8192: above limits.max_cpu (4096)"),
        ("code_locations.analytics.alert_team", "finance",
         "code_locations.analytics.alert_team = 'finance': not a team in alerting.teams (data-eng, ml, platform)"),
        ("code_locations.analytics.agent_queue", "gpu",
         "code_locations.analytics.agent_queue = 'gpu': not in dagster.agent_queues.additional_queues (heavy)"),
        ("deployment_settings.run_retries.max_retries", 6,
         "deployment_settings.run_retries.max_retries = 6: above limits.max_run_retries (5)"),
        ("limits.max_run_retries", 11, "limits.max_run_retries = 11: must be between 0 and 10"),
        ("alerting.default_team", "oncall",
         "alerting.default_team = 'oncall': not a team in alerting.teams (data-eng, ml, platform)"),
        ("storage.compute_logs.encryption", "rot13",
         "storage.compute_logs.encryption = 'rot13': Input should be 'kms' or 's3_managed'"),
        ("logging.forwarding.http_endpoint.url", "http://insecure.example.com",
         "logging.forwarding.http_endpoint.url = 'http://insecure.example.com': must be an https:// URL"),
        ("code_locations.analytics.code_source", {"package_name": "a", "python_file": "b.py"},
         "code_locations.analytics.code_source = "),
    ],
)
def test_cross_section_rules_name_the_field_and_the_rule_it_broke(tmp_path, path, value, expected):
    lines = error_lines(tmp_path, with_changes(PROD, path, value), name="prod")
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{tmp_path / 'prod.yaml'}: {expected}"), lines[0]


def test_alerting_rules_explain_what_is_missing(tmp_path):
    no_identity = with_changes(PROD, "alerting.email", ...)
    [line] = error_lines(tmp_path, no_identity, name="prod")
    assert line.endswith("alerting.email: required: teams data-eng, ml, platform receive email, so the SES identity must be set")
    unknown_default = with_changes(PROD, "alerting.default_team", "oncall")
    [line] = error_lines(tmp_path, unknown_default, name="prod")
    assert line.endswith("alerting.default_team = 'oncall': not a team in alerting.teams (data-eng, ml, platform)")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(["agent", "agent.cpu", "network", "dagster.deployments", "code_locations",
                             "code_locations.analytics", "alerting.teams", "limits", "logging.forwarding", "health"]),
       value=json_values)
def test_any_malformed_value_is_a_config_error_never_a_crash(path, value):
    from constructs_lib.config import parse_environment

    data = with_changes(PROD, path, value)
    try:
        parse_environment(data, "config/prod.yaml", "prod")
    except ConfigError as error:
        assert error.lines and all(line.startswith("config/prod.yaml: ") for line in error.lines)


@settings(max_examples=60, deadline=None)
@given(json_values)
def test_any_top_level_document_is_a_config_error_never_a_crash(document):
    from constructs_lib.config import parse_environment

    with pytest.raises(ConfigError):
        parse_environment(document, "config/x.yaml", "x")
