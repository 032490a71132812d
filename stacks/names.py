"""Physical names of stateful resources, so stateless stacks import them by name.

Stateless stacks reference stateful ones by these deterministic names (plus an explicit stack
dependency) instead of CloudFormation exports: an export pins the producing resource and blocks
replacing it, and names keep IAM resource strings free of cross-stack tokens. The templates, and
the longest environment name they allow, are in ``constructs_lib.config.physical_names``.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs_lib.config import physical_names as templates


@dataclass(frozen=True)
class StatefulNames:
    environment: str

    @property
    def agent_token_secret(self) -> str:
        return templates.AGENT_TOKEN_SECRET.format(env=self.environment)

    @property
    def agent_log_group(self) -> str:
        return templates.AGENT_LOG_GROUP.format(env=self.environment)

    @property
    def workload_log_group(self) -> str:
        return templates.WORKLOAD_LOG_GROUP.format(env=self.environment)


@dataclass(frozen=True)
class PlatformNames:
    """Names the observability stack and code locations use to find platform resources."""

    environment: str

    @property
    def cluster(self) -> str:
        return templates.CLUSTER.format(env=self.environment)

    @property
    def agent_service(self) -> str:
        return "dagster-agent"

    @property
    def alert_queue(self) -> str:
        return templates.ALERT_QUEUE.format(env=self.environment)

    @property
    def alert_key_alias(self) -> str:
        return templates.ALERT_KEY_ALIAS.format(env=self.environment)
