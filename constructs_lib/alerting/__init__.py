from .email import AlertEmail
from .pipeline import AlertPipeline
from .rendering import render_alert_policies, render_alert_policies_yaml, render_routes, render_routes_json

__all__ = [
    "AlertEmail",
    "AlertPipeline",
    "render_alert_policies",
    "render_alert_policies_yaml",
    "render_routes",
    "render_routes_json",
]
