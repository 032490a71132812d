"""Constructs for a robust Dagster+ Hybrid platform on AWS ECS.

Each construct works alone in any CDK app: give it settings (frozen pydantic models from
``constructs_lib.config``) and the CDK objects it builds on; it exposes what it creates.
"""

from .agent import DagsterAgent
from .cluster import DagsterCluster
from .network import DagsterNetwork
from .token_secret import AgentTokenSecret, import_token_secret
from .workload import WorkloadRoles

__all__ = [
    "AgentTokenSecret",
    "DagsterAgent",
    "DagsterCluster",
    "DagsterNetwork",
    "WorkloadRoles",
    "import_token_secret",
]
