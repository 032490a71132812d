"""The environment file: one YAML per environment under ``config/``, one CDK Stage each."""

from __future__ import annotations

from pydantic import Field, model_validator

from .locations import CodeLocationSettings, DeploymentSettings, RunLimits, TaskSize
from .observability import AlertingSettings, ComputeLogSettings, HealthSettings, LoggingSettings
from .platform import AgentSettings, ClusterSettings, DagsterCloudSettings, NetworkSettings
from .types import AccountId, Name, Region, StrictModel


class StorageSettings(StrictModel):
    compute_logs: ComputeLogSettings = ComputeLogSettings()


class EnvironmentConfig(StrictModel):
    """Everything one environment deploys. The file name (without .yaml) is the environment name."""

    name: Name
    account: AccountId | None = None
    region: Region | None = None
    retain_stateful_resources: bool = True
    tags: dict[str, str] = Field(default_factory=dict)
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

    @model_validator(mode="after")
    def _cross_section_rules(self) -> EnvironmentConfig:
        problems: list[str] = []
        limits = self.limits
        retries = self.deployment_settings.run_retries.max_retries
        if retries > limits.max_run_retries:
            problems.append(
                f"deployment_settings.run_retries.max_retries = {retries}: above limits.max_run_retries "
                f"({limits.max_run_retries})"
            )
        queues = set(self.dagster.agent_queues.additional_queues)
        for name, location in self.code_locations.items():
            where = f"code_locations.{name}"
            for role, size in (("server", location.server), ("run", location.run)):
                problems.extend(_size_within_limits(f"{where}.{role}", size, limits))
            storage = location.run.ephemeral_storage_gib
            if storage is not None and storage > limits.max_ephemeral_storage_gib:
                problems.append(
                    f"{where}.run.ephemeral_storage_gib = {storage}: above limits.max_ephemeral_storage_gib "
                    f"({limits.max_ephemeral_storage_gib})"
                )
            if location.alert_team not in self.alerting.teams:
                problems.append(
                    f"{where}.alert_team = '{location.alert_team}': not a team in alerting.teams "
                    f"({', '.join(sorted(self.alerting.teams))})"
                )
            if location.agent_queue is not None and location.agent_queue not in queues:
                problems.append(
                    f"{where}.agent_queue = '{location.agent_queue}': not in dagster.agent_queues.additional_queues "
                    f"({', '.join(sorted(queues)) or 'none configured'})"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _size_within_limits(where: str, size: TaskSize, limits: RunLimits) -> list[str]:
    problems = []
    if size.cpu > limits.max_cpu:
        problems.append(f"{where}.cpu = {size.cpu}: above limits.max_cpu ({limits.max_cpu})")
    if size.memory > limits.max_memory_mib:
        problems.append(f"{where}.memory = {size.memory}: above limits.max_memory_mib ({limits.max_memory_mib})")
    return problems
