from .construct import CodeLocationRepository, DagsterCodeLocation
from .rendering import (
    render_container_context,
    render_dagster_cloud_yaml,
    render_deployment_settings,
    render_deployment_settings_yaml,
    render_run_policy,
    render_run_policy_json,
)

__all__ = [
    "CodeLocationRepository",
    "DagsterCodeLocation",
    "render_container_context",
    "render_dagster_cloud_yaml",
    "render_deployment_settings",
    "render_deployment_settings_yaml",
    "render_run_policy",
    "render_run_policy_json",
]
