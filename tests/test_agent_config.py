"""The agent's dagster.yaml: checked at synth by Dagster's own loader (constructs_lib.dagster_files),
its python_logs handlers built the way Dagster builds them, and wired to the task definition."""

from __future__ import annotations

import copy
import logging

import pytest
import yaml

from constructs_lib.agent.agent_config import (
    DAGSTER_HANDLER_CONFIG_KEYS,
    ENV_AGENT_TOKEN,
    AgentConfigError,
    AgentConfigInputs,
    referenced_env_vars,
    render_agent_config,
    to_yaml,
)
from constructs_lib.config import load_environments
from constructs_lib.config.platform import PythonLogsSettings
from constructs_lib.dagster_files import check_agent_instance
from tests.support import CONFIG_DIR

ENVIRONMENTS = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))
#: Set by Fargate in every task, so the compute_logs block may read it without the task definition.
FARGATE_PROVIDED_ENV = {"AWS_REGION"}


def rendered(synthesized, environment: str) -> dict:
    text = (synthesized.outdir / "dagster" / environment / "dagster.yaml").read_text()
    return yaml.safe_load(text)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environments_agent_file_loads_with_dagsters_own_loader(synthesized, environment):
    text = (synthesized.outdir / "dagster" / environment / "dagster.yaml").read_text()
    assert check_agent_instance(text) == []
    assert rendered(synthesized, environment)["dagster_cloud_api"]["deployments"] == [environment]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_launcher_config_resolves_with_deploy_time_values_as_the_agent_does(synthesized, monkeypatch, environment):
    from dagster._config import process_config
    from dagster_cloud.workspace.ecs import EcsUserCodeLauncher

    launcher = rendered(synthesized, environment)["user_code_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_cloud.workspace.ecs", "EcsUserCodeLauncher")
    for name in referenced_env_vars(launcher["config"]):
        monkeypatch.setenv(name, f"value-of-{name}")
    result = process_config(EcsUserCodeLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    assert result.value["cluster"] == "value-of-DAGSTER_PLATFORM_ECS_CLUSTER"
    assert result.value["launch_type"] == "FARGATE"


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda d: d["user_code_launcher"]["config"].update(clusterr="typo"),
         'user_code_launcher: Received unexpected config entry "clusterr" at the root.'),
        (lambda d: d["agent_queues"].update(extra_queues=["typo"]),
         'Received unexpected config entry "extra_queues" at path root:agent_queues.'),
        (lambda d: d["python_logs"].update(dagster_handler_config={"version": 1}),
         'Received unexpected config entry "version" at path root:python_logs:dagster_handler_config.'),
        (lambda d: d["compute_logs"]["config"].update(buckett="typo"),
         'compute_logs: Received unexpected config entry "buckett" at the root.'),
    ],
    ids=["launcher", "instance", "python_logs", "compute_logs"],
)
def test_the_check_names_what_dagster_refuses_in_one_line(synthesized, break_it, expected):
    document = copy.deepcopy(rendered(synthesized, "prod"))
    break_it(document)
    problems = check_agent_instance(yaml.safe_dump(document))
    assert any(line.startswith(expected) for line in problems), problems
    assert all("\n" not in line for line in problems)


def inputs_with_handlers(handler_config: dict) -> AgentConfigInputs:
    config = next(c for c in load_environments(CONFIG_DIR) if c.name == "prod")
    agent = config.agent.model_copy(
        update={"python_logs": PythonLogsSettings(level="INFO", dagster_handler_config=handler_config)}
    )
    return AgentConfigInputs(dagster=config.dagster, agent=agent, subnet_count=2, security_group_count=1,
                             assign_public_ip=False)


def test_handler_config_keys_are_exactly_those_of_dagsters_instance_schema():
    from dagster._core.instance.config import dagster_instance_config_schema

    handler_field = dagster_instance_config_schema()["python_logs"].config_type.fields["dagster_handler_config"]
    assert set(handler_field.config_type.fields) == set(DAGSTER_HANDLER_CONFIG_KEYS)


def test_a_valid_handler_config_renders_loads_and_builds_the_handlers_dagster_attaches(tmp_path):
    from dagster import DagsterInstance
    from dagster._core.instance.config import dagster_instance_config

    handlers = {"handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING", "formatter": "plain"}},
                "formatters": {"plain": {"format": "%(levelname)s %(message)s"}}}
    text = to_yaml(render_agent_config(inputs_with_handlers(handlers)), "prod")
    assert check_agent_instance(text) == []
    (tmp_path / "dagster.yaml").write_text(text)
    config, instance_class = dagster_instance_config(str(tmp_path))  # what the agent runs at start
    assert instance_class.__name__ == "DagsterCloudAgentInstance"
    assert config["python_logs"]["dagster_handler_config"] == handlers
    # Dagster's own code turns the block into handlers (get_yaml_python_handlers, via logging.dictConfig).
    instance = DagsterInstance.ephemeral(settings={"python_logs": config["python_logs"]})
    [handler] = instance.get_yaml_python_handlers()
    assert isinstance(handler, logging.StreamHandler) and handler.level == logging.WARNING
    assert handler.formatter._fmt == "%(levelname)s %(message)s"


@pytest.mark.parametrize("key", ["version", "disable_existing_loggers", "loggers", "root"])
def test_a_full_logging_dictconfig_is_refused_at_render_naming_the_key(key):
    handlers = {key: {} if key in ("loggers", "root") else 1, "handlers": {}}
    with pytest.raises(AgentConfigError) as raised:
        render_agent_config(inputs_with_handlers(handlers))
    assert raised.value.lines == [
        f"agent.python_logs.dagster_handler_config.{key}: not accepted by Dagster; allowed keys: "
        "filters, formatters, handlers (Dagster adds version, disable_existing_loggers and the logger itself)"
    ]


def test_a_handler_section_that_is_not_a_mapping_is_refused_at_render():
    with pytest.raises(AgentConfigError, match=r"dagster_handler_config.handlers = \['console'\]: must be a mapping"):
        render_agent_config(inputs_with_handlers({"handlers": ["console"]}))


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
