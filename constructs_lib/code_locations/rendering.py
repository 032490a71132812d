"""Render the Dagster-side files of an environment from its settings (pure Python, no CDK).

- ``dagster_cloud.yaml``: the ``locations:`` file the Dagster+ CI action deploys, one entry per
  code location with its ``container_context.ecs``. Deploy-time values (role ARNs) are
  ``{env: VAR}`` references the agent resolves from its own environment, which the agent's task
  definition fills; so this file is static and reviewable.
- ``deployment_settings.yaml``: for ``dagster-cloud deployment settings set-from-file``.
- ``run_policy.json``: the caps, teams and location defaults that ``dagster_platform``'s tag
  helpers and checker enforce in code locations' CI.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..yaml_text import dump_yaml

from dagster_platform import limits as platform_limits

from ..config import CodeLocationSettings, ConfigError, EnvironmentConfig
from ..secrets_reference import SecretReference, secret_arn_prefix

RUN_POLICY_SCHEMA_VERSION = 1


def location_env_prefix(location: str) -> str:
    return "DAGSTER_PLATFORM_LOCATION_" + re.sub(r"[^A-Z0-9]", "_", location.upper())


def task_role_env(location: str) -> str:
    return f"{location_env_prefix(location)}_TASK_ROLE_ARN"


def execution_role_env(location: str) -> str:
    return f"{location_env_prefix(location)}_EXECUTION_ROLE_ARN"


def repository_name(environment: str, location: str) -> str:
    return f"dagster/{environment}/{location}"


def _resources(size, ephemeral_storage_gib: int | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": str(size.cpu), "memory": str(size.memory)}
    if ephemeral_storage_gib is not None:
        resources["ephemeral_storage"] = ephemeral_storage_gib
    return resources


def render_container_context(
    environment: str, location: str, settings: CodeLocationSettings, *, secret_arn_prefix: str | None = None
) -> dict[str, Any]:
    """The ``container_context.ecs`` block of one location. ``secret_arn_prefix``
    (``arn:<partition>:secretsmanager:<region>:<account>:secret:``) turns secret names into the ARNs ECS requires."""
    tags = [
        {"key": platform_limits.TAG_ALERT_TEAM, "value": settings.alert_team},
        {"key": "dagster-platform:location", "value": location},
        {"key": "dagster-platform:environment", "value": environment},
    ]
    ecs: dict[str, Any] = {
        "task_role_arn": {"env": task_role_env(location)},
        "execution_role_arn": {"env": execution_role_env(location)},
        "server_resources": _resources(settings.server),
        "run_resources": _resources(settings.run, settings.run.ephemeral_storage_gib),
        "server_ecs_tags": tags,
        "run_ecs_tags": tags,
        "env_vars": [f"{key}={value}" for key, value in sorted(settings.env_vars.items())]
        + [f"DAGSTER_PLATFORM_LOCATION={location}", f"DAGSTER_PLATFORM_DEFAULT_ALERT_TEAM={settings.alert_team}"],
    }
    if settings.secrets:
        ecs["secrets"] = [
            {"name": env, "valueFrom": _value_from(environment, location, env, secret, secret_arn_prefix)}
            for env, secret in sorted(settings.secrets.items())
        ]
    if settings.secrets_tags:
        ecs["secrets_tags"] = list(settings.secrets_tags)
    return {"ecs": ecs}


def _value_from(environment: str, location: str, env: str, secret: str, arn_prefix: str | None) -> str:
    """ECS reads a ``valueFrom`` that is not a Secrets Manager ARN as an SSM parameter: always render the ARN."""
    reference = SecretReference.parse(secret)
    if reference.arn is None and (arn_prefix is None or "${Token[" in arn_prefix):
        raise ConfigError(
            [
                f"config/{environment}.yaml: code_locations.{location}.secrets.{env} = {secret!r}: a secret given by "
                "name needs the environment's account and region to become the ARN ECS requires; set account and "
                "region, or give the secret's full ARN"
            ]
        )
    return reference.value_from(arn_prefix or "")


def render_dagster_cloud_yaml(config: EnvironmentConfig, *, account: str | None = None, region: str | None = None) -> str:
    """``account``/``region`` default to the environment file's (the stage passes the CLI's defaults too)."""
    account, region = account or config.account, region or config.region
    arn_prefix = secret_arn_prefix("aws-cn" if region and region.startswith("cn-") else "aws", region, account) if account and region else None
    locations = []
    for name, settings in sorted(config.code_locations.items()):
        entry: dict[str, Any] = {
            "location_name": name,
            "code_source": settings.code_source.model_dump(exclude_none=True),
        }
        if config.account and config.region:
            entry["build"] = {
                "directory": ".",
                "registry": f"{config.account}.dkr.ecr.{config.region}.amazonaws.com/{repository_name(config.name, name)}",
            }
        if settings.agent_queue:
            entry["agent_queue"] = settings.agent_queue
        entry["container_context"] = render_container_context(config.name, name, settings, secret_arn_prefix=arn_prefix)
        locations.append(entry)
    header = (
        f"# dagster_cloud.yaml for environment '{config.name}', rendered at synth from config/{config.name}.yaml.\n"
        "# Deploy with the Dagster+ CI action or `dagster-cloud deployment add-location`. {env: NAME} values are\n"
        "# resolved by the agent, whose task definition holds each location's role ARNs.\n"
    )
    if not (config.account and config.region):
        header += (
            "# This environment has no fixed account/region, so build.registry is not rendered: set it in CI\n"
            f"# to <account>.dkr.ecr.<region>.amazonaws.com/dagster/{config.name}/<location>.\n"
        )
    return header + dump_yaml({"locations": locations})


def render_deployment_settings(config: EnvironmentConfig) -> dict[str, Any]:
    settings = config.deployment_settings
    runs: dict[str, Any] = {"max_concurrent_runs": settings.concurrency.runs.max_concurrent_runs}
    if settings.concurrency.runs.tag_concurrency_limits:
        runs["tag_concurrency_limits"] = [
            limit.model_dump(exclude_none=True) for limit in settings.concurrency.runs.tag_concurrency_limits
        ]
    concurrency: dict[str, Any] = {"runs": runs}
    if settings.concurrency.pools.default_limit is not None:
        concurrency["pools"] = {"default_limit": settings.concurrency.pools.default_limit}
    return {
        "run_retries": {
            "max_retries": settings.run_retries.max_retries,
            "retry_on_asset_or_op_failure": settings.run_retries.retry_on_asset_or_op_failure,
        },
        "concurrency": concurrency,
        "run_monitoring": {
            "start_timeout_seconds": settings.run_monitoring.start_timeout_seconds,
            "cancel_timeout_seconds": settings.run_monitoring.cancel_timeout_seconds,
            "max_runtime_seconds": settings.run_monitoring.max_runtime_seconds,
        },
    }


def render_deployment_settings_yaml(config: EnvironmentConfig) -> str:
    header = (
        f"# Dagster+ deployment settings for '{config.name}' (apply to each of: "
        f"{', '.join(config.dagster.deployments)}):\n"
        "#   dagster-cloud deployment settings set-from-file deployment_settings.yaml --deployment <name>\n"
    )
    return header + dump_yaml(render_deployment_settings(config))


def render_run_policy(config: EnvironmentConfig) -> dict[str, Any]:
    limits = config.limits
    locations: dict[str, Any] = {}
    for name, settings in sorted(config.code_locations.items()):
        run: dict[str, Any] = {"cpu": settings.run.cpu, "memory": settings.run.memory}
        if settings.run.ephemeral_storage_gib is not None:
            run["ephemeral_storage_gib"] = settings.run.ephemeral_storage_gib
        locations[name] = {
            "server": {"cpu": settings.server.cpu, "memory": settings.server.memory},
            "run": run,
            "alert_team": settings.alert_team,
        }
    retries = config.deployment_settings.run_retries
    return {
        "schema_version": RUN_POLICY_SCHEMA_VERSION,
        "environment": config.name,
        "limits": {
            "max_cpu": limits.max_cpu,
            "max_memory_mib": limits.max_memory_mib,
            "max_ephemeral_storage_gib": limits.max_ephemeral_storage_gib,
        },
        "retries": {
            "max_run_retries": limits.max_run_retries,
            "max_op_retries": limits.max_op_retries,
            "strategies": list(platform_limits.RETRY_STRATEGIES),
        },
        "priority": {"min": limits.priority.min, "max": limits.priority.max},
        "alert_teams": sorted(config.alerting.teams),
        "default_alert_team": config.alerting.default_team,
        "required_tags": list(limits.required_tags),
        "deployment_settings": {
            "run_retries": {
                "max_retries": retries.max_retries,
                "retry_on_asset_or_op_failure": retries.retry_on_asset_or_op_failure,
            },
            # run queue limits and pools: the checker and `explain` show which apply to each run
            "concurrency": render_deployment_settings(config)["concurrency"],
        },
        "locations": locations,
        # ECS override tags may name only these (the platform's own roles are the launcher's
        # defaults and their ARNs are known only at deploy time, so none are listed)
        "ecs_overrides": {
            "role_arns": [],
            "subnets": list(config.network.subnet_ids),
            "security_groups": [],
        },
        "alerting": {"job_failure_alerts": config.alerting.job_failure_alerts},
    }


def render_run_policy_json(config: EnvironmentConfig) -> str:
    return json.dumps(render_run_policy(config), indent=2, sort_keys=True) + "\n"
