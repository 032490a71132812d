"""The agent's dagster.yaml, checked by dagster-cloud's own schemas, and wired to the task definition."""

from __future__ import annotations

import copy

import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster_cloud.workspace.ecs import EcsUserCodeLauncher

from constructs_lib.agent.agent_config import ENV_AGENT_TOKEN, referenced_env_vars

ENVIRONMENTS = ["dev", "prod"]
#: Set by Fargate in every task, so the compute_logs block may read it without the task definition.
FARGATE_PROVIDED_ENV = {"AWS_REGION"}


def rendered(synthesized, environment: str) -> dict:
    text = (synthesized.outdir / "dagster" / environment / "dagster.yaml").read_text()
    return yaml.safe_load(text)


def validate_instance(tmp_path, document: dict) -> dict:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(document))
    config, instance_class = dagster_instance_config(str(tmp_path))
    assert instance_class.__name__ == "DagsterCloudAgentInstance"
    return config


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendered_file_is_a_valid_dagster_cloud_agent_instance(synthesized, tmp_path, environment):
    document = rendered(synthesized, environment)
    config = validate_instance(tmp_path, document)
    assert config["dagster_cloud_api"]["deployments"] == [environment]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_launcher_config_passes_the_ecs_launcher_schema_with_deploy_time_values(synthesized, monkeypatch, environment):
    launcher = rendered(synthesized, environment)["user_code_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_cloud.workspace.ecs", "EcsUserCodeLauncher")
    for name in referenced_env_vars(launcher["config"]):
        monkeypatch.setenv(name, f"value-of-{name}")
    result = process_config(EcsUserCodeLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    assert result.value["cluster"] == "value-of-DAGSTER_PLATFORM_ECS_CLUSTER"
    assert result.value["launch_type"] == "FARGATE"


def test_unknown_keys_fail_both_schemas(synthesized, tmp_path):
    document = copy.deepcopy(rendered(synthesized, "prod"))
    document["user_code_launcher"]["config"]["clusterr"] = "typo"
    assert not validate_config(EcsUserCodeLauncher.config_type(), document["user_code_launcher"]["config"]).success
    document = copy.deepcopy(rendered(synthesized, "prod"))
    document["agent_queues"]["extra_queues"] = ["typo"]
    with pytest.raises(DagsterInvalidConfigError):
        validate_instance(tmp_path, document)


def test_rendered_settings_follow_each_environment(synthesized):
    dev, prod = rendered(synthesized, "dev"), rendered(synthesized, "prod")
    assert dev["dagster_cloud_api"]["url"] == "https://acme.agent.dagster.cloud"
    assert dev["dagster_cloud_api"]["branch_deployments"] is True
    assert prod["dagster_cloud_api"]["branch_deployments"] is False
    assert dev["user_code_launcher"]["config"]["assign_public_ip"] is True
    assert prod["user_code_launcher"]["config"]["assign_public_ip"] is False
    assert prod["user_code_launcher"]["config"]["requires_healthcheck"] is True
    assert dev["user_code_launcher"]["config"]["requires_healthcheck"] is False
    assert prod["agent_queues"] == {"include_default_queue": True, "additional_queues": ["heavy"]}
    assert prod["python_logs"] == {"python_log_level": "INFO", "managed_python_loggers": ["acme"]}
    assert dev["user_code_launcher"]["config"]["server_ttl"]["full_deployments"] == {"enabled": True, "ttl_seconds": 3600}
    assert len(prod["user_code_launcher"]["config"]["subnets"]) == 2


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_env_reference_is_supplied_by_the_agent_task_definition(synthesized, environment):
    document = rendered(synthesized, environment)
    [task_definition] = synthesized.resources(environment, "platform", "AWS::ECS::TaskDefinition").values()
    [container] = task_definition["Properties"]["ContainerDefinitions"]
    plain = {item["Name"] for item in container["Environment"]}
    secret = {item["Name"] for item in container["Secrets"]}
    assert referenced_env_vars(document) <= plain | secret | FARGATE_PROVIDED_ENV
    assert secret == {ENV_AGENT_TOKEN}
    inherited = set(document["user_code_launcher"]["config"].get("env_vars", []))
    assert inherited <= plain


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_container_gets_exactly_the_reviewed_document(synthesized, environment):
    [task_definition] = synthesized.resources(environment, "platform", "AWS::ECS::TaskDefinition").values()
    [container] = task_definition["Properties"]["ContainerDefinitions"]
    environment_values = {item["Name"]: item["Value"] for item in container["Environment"]}
    review_copy = (synthesized.outdir / "dagster" / environment / "dagster.yaml").read_text()
    assert environment_values["DAGSTER_PLATFORM_AGENT_CONFIG"] == review_copy
    assert "dagster-cloud agent run" in container["Command"][0]
    assert "echo" not in container["Command"][0]
