"""The environment file: one YAML per environment under ``config/``, one CDK Stage each."""

from __future__ import annotations

from pydantic import Field

from .platform import AgentSettings, ClusterSettings, DagsterCloudSettings, NetworkSettings
from .types import AccountId, Name, Region, StrictModel


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
