"""Typed, validated settings: the environment-file schema and the constructs' props."""

from .environment import EnvironmentConfig
from .errors import ConfigError
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
]
