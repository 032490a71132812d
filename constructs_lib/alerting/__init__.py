"""Alerting: constructs (CDK) and the renderers of routes and Dagster+ policies (pure Python).

Names are imported on first use, so the renderers load without starting jsii.
"""
from .._lazy import lazy_exports

_EXPORTS = {
    "AlertEmail": ".email",
    "AlertPipeline": ".pipeline",
    "render_alert_policies": ".rendering",
    "render_alert_policies_yaml": ".rendering",
    "render_routes": ".rendering",
    "render_routes_json": ".rendering",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
