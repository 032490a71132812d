"""Physical names of stateful resources, so stateless stacks import them by name.

Stateless stacks reference stateful ones by these deterministic names (plus an explicit stack
dependency) instead of CloudFormation exports: an export pins the producing resource and blocks
replacing it, and names keep IAM resource strings free of cross-stack tokens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatefulNames:
    environment: str

    @property
    def agent_token_secret(self) -> str:
        return f"dagster/{self.environment}/agent-token"

    @property
    def agent_log_group(self) -> str:
        return f"/dagster-platform/{self.environment}/agent"

    @property
    def workload_log_group(self) -> str:
        return f"/dagster-platform/{self.environment}/workloads"


@dataclass(frozen=True)
class PlatformNames:
    """Names the observability stack and code locations use to find platform resources."""

    environment: str

    @property
    def cluster(self) -> str:
        return f"dagster-platform-{self.environment}"

    @property
    def agent_service(self) -> str:
        return "dagster-agent"

    @property
    def alert_queue(self) -> str:
        return f"dagster-platform-{self.environment}-alerts"

    @property
    def alert_key_alias(self) -> str:
        return f"alias/dagster-platform/{self.environment}/alerts"
