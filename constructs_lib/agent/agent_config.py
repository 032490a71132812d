"""Render the Dagster+ agent's ``dagster.yaml`` as a static document.

Everything known at synth (organization, deployments, queues, logging, TTLs) is written as a
value; everything known only at deploy time (cluster, subnets, security groups, namespace,
roles, log group, token) is an ``{env: VAR}`` reference that the agent's task definition fills
from CloudFormation. The document therefore contains no secret and no CloudFormation token,
is identical on every synth of the same settings, and is written next to the templates for
review. Pure Python: no CDK import, so tests validate it with dagster-cloud's own schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..dagster_files import DagsterFileError
from ..yaml_text import dump_yaml

from ..config import AgentSettings, DagsterCloudSettings

#: Task-definition family prefixes of code servers and runs (dagster-cloud's defaults, rendered explicitly):
#: families are ``<prefix>_<organization>_<deployment>_...``.
SERVER_TASK_DEFINITION_PREFIX = "server"
RUN_TASK_DEFINITION_PREFIX = "dagsterrun"

ENV_AGENT_TOKEN = "DAGSTER_CLOUD_AGENT_TOKEN"
ENV_CLUSTER = "DAGSTER_PLATFORM_ECS_CLUSTER"
ENV_NAMESPACE_ID = "DAGSTER_PLATFORM_SERVICE_DISCOVERY_NAMESPACE_ID"
ENV_EXECUTION_ROLE_ARN = "DAGSTER_PLATFORM_WORKLOAD_EXECUTION_ROLE_ARN"
ENV_TASK_ROLE_ARN = "DAGSTER_PLATFORM_WORKLOAD_TASK_ROLE_ARN"
ENV_LOG_GROUP = "DAGSTER_PLATFORM_WORKLOAD_LOG_GROUP"
#: The rendered document itself, passed to the container, which writes it to $DAGSTER_HOME.
ENV_AGENT_CONFIG = "DAGSTER_PLATFORM_AGENT_CONFIG"
DAGSTER_HOME = "/opt/dagster/dagster_home"
#: The sentinel the agent writes once its first reconciliation is done (zero-downtime deploys).
READINESS_SENTINEL = "/opt/finished_initial_reconciliation_sentinel.txt"


#: The keys Dagster accepts under ``python_logs.dagster_handler_config`` (its instance schema; a test
#: pins this against ``dagster_instance_config_schema()``). Dagster builds the ``logging.dictConfig``
#: around them itself (``version: 1``, ``disable_existing_loggers: false``, a logger for the handlers),
#: so a full dictConfig's ``version``, ``loggers`` or ``root`` makes the agent refuse the file.
DAGSTER_HANDLER_CONFIG_KEYS = ("filters", "formatters", "handlers")


class AgentConfigError(DagsterFileError):
    """A setting that would render a ``dagster.yaml`` the agent refuses; one line per problem."""


def subnet_env(index: int) -> str:
    return f"DAGSTER_PLATFORM_SUBNET_{index}"


def security_group_env(index: int) -> str:
    return f"DAGSTER_PLATFORM_SECURITY_GROUP_{index}"


def env_ref(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True)
class AgentConfigInputs:
    """What the renderer needs beyond settings: counts of deploy-time lists and extra blocks."""

    dagster: DagsterCloudSettings
    agent: AgentSettings
    subnet_count: int
    security_group_count: int
    assign_public_ip: bool
    #: Agent environment variables that code servers and runs inherit (launcher ``env_vars``).
    inherited_env_vars: tuple[str, ...] = ()
    #: Extra top-level instance blocks, e.g. ``compute_logs``; keys must not collide.
    extra_blocks: Mapping[str, Any] = field(default_factory=dict)


def render_agent_config(inputs: AgentConfigInputs) -> dict[str, Any]:
    dagster, agent = inputs.dagster, inputs.agent
    api: dict[str, Any] = {
        # Explicit, so the reviewed file names the organization and a token of another one fails.
        "url": dagster.agent_api_url,
        "agent_token": env_ref(ENV_AGENT_TOKEN),
        "deployments": list(dagster.deployments),
        "branch_deployments": dagster.branch_deployments,
    }
    if dagster.agent_label:
        api["agent_label"] = dagster.agent_label

    launcher: dict[str, Any] = {
        "cluster": env_ref(ENV_CLUSTER),
        "subnets": [env_ref(subnet_env(i)) for i in range(inputs.subnet_count)],
        "security_group_ids": [env_ref(security_group_env(i)) for i in range(inputs.security_group_count)],
        "service_discovery_namespace_id": env_ref(ENV_NAMESPACE_ID),
        "execution_role_arn": env_ref(ENV_EXECUTION_ROLE_ARN),
        "task_role_arn": env_ref(ENV_TASK_ROLE_ARN),
        "log_group": env_ref(ENV_LOG_GROUP),
        "launch_type": "FARGATE",
        "assign_public_ip": inputs.assign_public_ip,
        "requires_healthcheck": agent.zero_downtime_deploys,
        "code_server_metrics": {"enabled": agent.code_server_metrics},
        "agent_metrics": {"enabled": agent.agent_metrics},
        "enable_ecs_exec": agent.enable_ecs_exec,
        "secrets_tag": agent.secrets_tag,
        # Explicit, because the agent's IAM role may register and run only these task-definition families.
        "server_task_definition_prefix": SERVER_TASK_DEFINITION_PREFIX,
        "run_task_definition_prefix": RUN_TASK_DEFINITION_PREFIX,
        "server_process_startup_timeout": agent.server_process_startup_timeout_seconds,
        "server_ttl": {
            "full_deployments": {
                "enabled": agent.server_ttl.full_deployments_enabled,
                "ttl_seconds": agent.server_ttl.full_deployments_ttl_seconds,
            },
            "branch_deployments": {"ttl_seconds": agent.server_ttl.branch_deployments_ttl_seconds},
            "max_servers": agent.server_ttl.max_servers,
        },
    }
    if inputs.inherited_env_vars:
        launcher["env_vars"] = list(inputs.inherited_env_vars)

    python_logs: dict[str, Any] = {"python_log_level": agent.python_logs.level}
    if agent.python_logs.managed_loggers:
        python_logs["managed_python_loggers"] = list(agent.python_logs.managed_loggers)
    if agent.python_logs.dagster_handler_config:
        python_logs["dagster_handler_config"] = handler_config(agent.python_logs.dagster_handler_config)

    document: dict[str, Any] = {
        "instance_class": {"module": "dagster_cloud.instance", "class": "DagsterCloudAgentInstance"},
        "dagster_cloud_api": api,
        "user_code_launcher": {
            "module": "dagster_cloud.workspace.ecs",
            "class": "EcsUserCodeLauncher",
            "config": launcher,
        },
        "isolated_agents": {"enabled": dagster.isolated_agents},
        "agent_queues": {
            "include_default_queue": dagster.agent_queues.include_default_queue,
            **(
                {"additional_queues": list(dagster.agent_queues.additional_queues)}
                if dagster.agent_queues.additional_queues
                else {}
            ),
        },
        "python_logs": python_logs,
    }
    collisions = set(document) & set(inputs.extra_blocks)
    if collisions:
        raise ValueError(f"extra agent config blocks collide with rendered keys: {', '.join(sorted(collisions))}")
    document.update(inputs.extra_blocks)
    return document


def handler_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``python_logs.dagster_handler_config`` as Dagster takes it: only ``handlers``, ``formatters``
    and ``filters``, each a mapping; anything else is an error naming the key, not a file the agent
    refuses at start."""
    problems = []
    for key, value in config.items():
        field_name = f"agent.python_logs.dagster_handler_config.{key}"
        if key not in DAGSTER_HANDLER_CONFIG_KEYS:
            problems.append(
                f"{field_name}: not accepted by Dagster; allowed keys: {', '.join(DAGSTER_HANDLER_CONFIG_KEYS)} "
                "(Dagster adds version, disable_existing_loggers and the logger itself)"
            )
        elif not isinstance(value, Mapping):
            problems.append(f"{field_name} = {value!r}: must be a mapping of names to logging {key} configs")
    if problems:
        raise AgentConfigError(problems)
    return {key: _plain(config[key]) for key in DAGSTER_HANDLER_CONFIG_KEYS if key in config}


def _plain(value: Any) -> Any:
    """Mappings and sequences as plain dicts and lists, so the YAML dumper writes them as YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def referenced_env_vars(document: Any) -> set[str]:
    """Every ``{env: NAME}`` the document reads, so callers can prove each one is supplied."""
    found: set[str] = set()
    if isinstance(document, dict):
        if set(document) == {"env"} and isinstance(document["env"], str):
            found.add(document["env"])
        for value in document.values():
            found |= referenced_env_vars(value)
    elif isinstance(document, list):
        for value in document:
            found |= referenced_env_vars(value)
    return found


def to_yaml(document: Mapping[str, Any], environment: str) -> str:
    header = (
        f"# dagster.yaml of the Dagster+ ECS agent, environment '{environment}'.\n"
        "# Rendered by constructs_lib at synth. {env: NAME} values are filled at deploy time by the\n"
        "# agent's task definition (the token from AWS Secrets Manager); nothing secret is in this file.\n"
    )
    return header + dump_yaml(dict(document))
