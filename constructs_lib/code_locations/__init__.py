"""Code locations: constructs (CDK) and the renderers of their Dagster files (pure Python).

Names are imported on first use, so the renderers load without starting jsii.
"""
from .._lazy import lazy_exports

_EXPORTS = {
    "CodeLocationRepository": ".construct",
    "DagsterCodeLocation": ".construct",
    "render_container_context": ".rendering",
    "render_dagster_cloud_yaml": ".rendering",
    "render_deployment_settings": ".rendering",
    "render_deployment_settings_yaml": ".rendering",
    "render_run_policy": ".rendering",
    "render_run_policy_json": ".rendering",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
