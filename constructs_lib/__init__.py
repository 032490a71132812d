"""Constructs for a robust Dagster+ Hybrid platform on AWS ECS.

Each construct works alone in any CDK app: give it settings (frozen pydantic models from
``constructs_lib.config``) and the CDK objects it builds on; it exposes what it creates.
Constructs are imported on first use, so the pure modules (config, renderers, the review report)
load without starting jsii.
"""
from ._lazy import lazy_exports

_EXPORTS = {
    "AgentTokenSecret": ".token_secret",
    "AlertPipeline": ".alerting",
    "CodeLocationFiles": ".code_locations.publish",
    "CodeLocationRepository": ".code_locations",
    "ComputeLogBucket": ".compute_logs",
    "DagsterAgent": ".agent",
    "DagsterCluster": ".cluster",
    "DagsterCodeLocation": ".code_locations",
    "DagsterNetwork": ".network",
    "LogForwarding": ".log_forwarding",
    "PlatformHealth": ".health",
    "PlatformLogGroups": ".log_groups",
    "WorkloadRoles": ".workload",
    "import_token_secret": ".token_secret",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
