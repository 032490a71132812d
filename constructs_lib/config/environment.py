"""The environment file: one YAML per environment under ``config/``, one CDK Stage each."""

from __future__ import annotations

import re
from typing import Annotated, Any, Mapping

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from .errors import ABSENT, FieldProblem, raise_problems
from .locations import CodeLocationSettings, DeploymentSettings, RunLimits, TaskSize
from .observability import AlertingSettings, ComputeLogSettings, HealthSettings, LoggingSettings
from .physical_names import environment_name_limit, environment_name_problem
from .platform import AgentSettings, ClusterSettings, DagsterCloudSettings, NetworkSettings
from .tags import tag_rules, tag_value_problem
from .types import AccountId, Name, Region, StrictModel, TagKey

#: Tag keys the stage sets on every resource itself; a file's ``tags:`` may not replace them.
PLATFORM_TAG_PREFIX = "dagster-platform:"
PLATFORM_TAGS = ("dagster-platform:environment",)
#: The CDK context key under which an account's availability zones are pinned (cdk.json).
AZ_CONTEXT_KEY = "availability-zones:account={account}:region={region}"


def _tag_value(value: str) -> str:
    problem = tag_value_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_platform_key(key: str) -> str:
    if key.startswith(PLATFORM_TAG_PREFIX):
        raise ValueError(f"keys starting with '{PLATFORM_TAG_PREFIX}' are set by the platform on every resource")
    return key


def _environment_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", name):
        raise ValueError(
            f"must be 2-{environment_name_limit()[0]} lowercase letters, digits or '-', starting with a letter "
            "and not ending with '-'"
        )
    problem = environment_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


#: The file name: it becomes part of bucket, queue, cluster and log group names.
EnvironmentName = Annotated[str, AfterValidator(_environment_name)]
StageTagKey = Annotated[TagKey, AfterValidator(_not_platform_key)]
TagValue = Annotated[str, AfterValidator(_tag_value)]


class StorageSettings(StrictModel):
    compute_logs: ComputeLogSettings = ComputeLogSettings()


class EnvironmentConfig(StrictModel):
    """Everything one environment deploys. The file name (without .yaml) is the environment name.

    Validate with ``context={"cdk_context": {...}}`` (the CDK context of cdk.json) to also check
    that an explicit account's availability zones are pinned there.
    """

    name: EnvironmentName
    account: AccountId | None = None
    region: Region | None = None
    retain_stateful_resources: bool = True
    #: Applied to every resource of the environment (with ``dagster-platform:environment``).
    tags: dict[StageTagKey, TagValue] = Field(default_factory=dict)
    dagster: DagsterCloudSettings
    network: NetworkSettings
    cluster: ClusterSettings = ClusterSettings()
    agent: AgentSettings
    limits: RunLimits = RunLimits()
    deployment_settings: DeploymentSettings = DeploymentSettings()
    code_locations: dict[Name, CodeLocationSettings] = Field(default_factory=dict)
    storage: StorageSettings = StorageSettings()
    logging: LoggingSettings = LoggingSettings()
    alerting: AlertingSettings
    health: HealthSettings = HealthSettings()

    @field_validator("tags")
    @classmethod
    def _tag_count(cls, tags: dict[str, str]) -> dict[str, str]:
        room = tag_rules().max_tags - len(PLATFORM_TAGS)
        if len(tags) > room:
            raise ValueError(f"{len(tags)} tags: AWS allows {tag_rules().max_tags} per resource, the platform sets "
                             f"{len(PLATFORM_TAGS)}, so at most {room}")
        return tags

    @model_validator(mode="after")
    def _cross_section_rules(self, info: ValidationInfo) -> EnvironmentConfig:
        context = (info.context or {}).get("cdk_context") if info else None
        raise_problems(cross_section_problems(dict(self), context))
        return self


def cross_section_problems(sections: Mapping[str, Any], cdk_context: Mapping[str, Any] | None = None) -> list[FieldProblem]:
    """Rules that span sections. ``sections`` maps top-level keys to validated values; a key whose
    section failed validation is absent (or maps to None), and rules that need it are skipped, so
    these problems are reported together with the sections' own."""
    problems: list[FieldProblem] = []
    limits: RunLimits | None = sections.get("limits")
    deployment: DeploymentSettings | None = sections.get("deployment_settings")
    dagster: DagsterCloudSettings | None = sections.get("dagster")
    alerting: AlertingSettings | None = sections.get("alerting")
    # the team names alone, when the rest of alerting failed (``alerting_teams``, see the loader)
    teams = alerting.teams if alerting is not None else sections.get("alerting_teams")
    locations: Mapping[str, CodeLocationSettings | None] = sections.get("code_locations") or {}

    if limits is not None and deployment is not None:
        retries = deployment.run_retries.max_retries
        if retries > limits.max_run_retries:
            problems.append(FieldProblem(
                "deployment_settings.run_retries.max_retries", retries, f"above limits.max_run_retries ({limits.max_run_retries})"
            ))
    for name, location in locations.items():
        if location is None:
            continue
        where = f"code_locations.{name}"
        if limits is not None:
            for role, size in (("server", location.server), ("run", location.run)):
                problems.extend(_size_within_limits(f"{where}.{role}", size, limits))
            storage = location.run.ephemeral_storage_gib
            if storage is not None and storage > limits.max_ephemeral_storage_gib:
                problems.append(FieldProblem(
                    f"{where}.run.ephemeral_storage_gib", storage,
                    f"above limits.max_ephemeral_storage_gib ({limits.max_ephemeral_storage_gib})",
                ))
        if teams is not None and location.alert_team not in teams:
            problems.append(FieldProblem(
                f"{where}.alert_team", location.alert_team, f"not a team in alerting.teams ({', '.join(sorted(teams))})"
            ))
        if dagster is not None and location.agent_queue is not None:
            queues = set(dagster.agent_queues.additional_queues)
            if location.agent_queue not in queues:
                problems.append(FieldProblem(
                    f"{where}.agent_queue", location.agent_queue,
                    f"not in dagster.agent_queues.additional_queues ({', '.join(sorted(queues)) or 'none configured'})",
                ))
    problems.extend(_availability_zone_problems(sections, cdk_context))
    return problems


def _availability_zone_problems(sections: Mapping[str, Any], cdk_context: Mapping[str, Any] | None) -> list[FieldProblem]:
    """A new VPC in an explicit account needs that account's AZs pinned in cdk.json; without them
    CDK would put placeholder zones (dummy1a, dummy1b) into the template."""
    account, region, network = sections.get("account"), sections.get("region"), sections.get("network")
    if cdk_context is None or account is None or network is None or network.mode == "existing":
        return []
    if region is None:
        if "region" in sections:  # validated and absent (not failed)
            return [FieldProblem("region", ABSENT, "required with account: availability zones are pinned per account and region")]
        return []
    key = AZ_CONTEXT_KEY.format(account=account, region=region)
    zones = cdk_context.get(key)
    if not zones:
        return [FieldProblem(
            "account", account,
            f"no availability zones pinned for this account in {region}: add \"{key}\": [\"{region}a\", \"{region}b\"] "
            "(the account's real zone names) to the context in cdk.json",
        )]
    wrong = [zone for zone in zones if not (isinstance(zone, str) and zone.startswith(region) and len(zone) > len(region))]
    if wrong:
        return [FieldProblem("account", account, f"cdk.json \"{key}\" lists {wrong}, which are not zones of {region}")]
    if len(zones) < network.max_azs:
        return [FieldProblem(
            "network.max_azs", network.max_azs, f"cdk.json \"{key}\" pins only {len(zones)} zone(s); list {network.max_azs} or lower max_azs"
        )]
    return []


def _size_within_limits(where: str, size: TaskSize, limits: RunLimits) -> list[FieldProblem]:
    problems = []
    if size.cpu > limits.max_cpu:
        problems.append(FieldProblem(f"{where}.cpu", size.cpu, f"above limits.max_cpu ({limits.max_cpu})"))
    if size.memory > limits.max_memory_mib:
        problems.append(FieldProblem(f"{where}.memory", size.memory, f"above limits.max_memory_mib ({limits.max_memory_mib})"))
    return problems
