"""Typed, validated settings: the environment-file schema and the constructs' props."""

from .environment import EnvironmentConfig, StorageSettings
from .locations import (
    CodeLocationSettings,
    CodeSource,
    DeploymentSettings,
    RunLimits,
    RunTaskSize,
)
from .observability import (
    AlertingSettings,
    ComputeLogSettings,
    EmailIdentity,
    HealthSettings,
    HttpEndpointBuffering,
    HttpEndpointDestination,
    LogForwardingSettings,
    LoggingSettings,
    TeamRoute,
)
from .errors import ConfigError
from .secret_refs import parse_secret_reference
from .loader import load_environment, load_environments, parse_environment
from .platform import (
    AgentQueues,
    AgentSettings,
    ClusterSettings,
    DagsterCloudSettings,
    NetworkSettings,
    PythonLogsSettings,
    ServerTtlSettings,
    TokenSecretSettings,
)
from .task_size import TaskSize

__all__ = [
    "AlertingSettings",
    "CodeLocationSettings",
    "CodeSource",
    "ComputeLogSettings",
    "DeploymentSettings",
    "EmailIdentity",
    "HealthSettings",
    "HttpEndpointBuffering",
    "HttpEndpointDestination",
    "LogForwardingSettings",
    "LoggingSettings",
    "RunLimits",
    "RunTaskSize",
    "StorageSettings",
    "TeamRoute",
    "AgentQueues",
    "AgentSettings",
    "ClusterSettings",
    "ConfigError",
    "DagsterCloudSettings",
    "EnvironmentConfig",
    "NetworkSettings",
    "PythonLogsSettings",
    "ServerTtlSettings",
    "TaskSize",
    "TokenSecretSettings",
    "load_environment",
    "load_environments",
    "parse_environment",
    "parse_secret_reference",
]
