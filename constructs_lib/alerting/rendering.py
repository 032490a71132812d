"""Render the alert routes (for the relay Lambda) and Dagster+ alert policies from one team config."""

from __future__ import annotations

import json
from typing import Any

from dagster_platform.limits import TAG_ALERT_TEAM

from ..config import AlertingSettings, EnvironmentConfig
from ..yaml_text import dump_yaml

ROUTES_SCHEMA_VERSION = 1


def render_routes(environment: str, alerting: AlertingSettings) -> dict[str, Any]:
    """The relay's ``routes.json``: teams, their destinations and SLA thresholds, the default team."""
    return {
        "schema_version": ROUTES_SCHEMA_VERSION,
        "environment": environment,
        "default_team": alerting.default_team,
        "dedup_window_seconds": alerting.dedup_window_seconds,
        "email_sender": alerting.email.sender if alerting.email else None,
        "teams": {
            name: {
                "email": list(route.email),
                "slack_webhook_secret": route.slack_webhook_secret,
                "teams_webhook_secret": route.teams_webhook_secret,
                "sla_lateness_minutes": route.sla_lateness_minutes,
            }
            for name, route in sorted(alerting.teams.items())
        },
    }


def render_routes_json(environment: str, alerting: AlertingSettings) -> str:
    return json.dumps(render_routes(environment, alerting), indent=2, sort_keys=True) + "\n"


def render_alert_policies(config: EnvironmentConfig) -> dict[str, Any]:
    """Dagster+ native policies: agent and code-location health and failing sensor/schedule ticks
    (the platform's alert sensors among them: a tick fails when the alert queue is unreachable) to
    the default team, and run failures of each team's jobs, selected by the ``alert_team`` tag, to
    that team, only when ``alerting.job_failure_alerts`` is ``dagster_plus`` (with ``relay`` the
    run-failure sensor alerts instead: one path per failure)."""
    alerting = config.alerting
    choose = alerting.dagster_cloud_policies
    platform_emails = list(alerting.teams[alerting.default_team].email)
    policies: list[dict[str, Any]] = []

    def email_policy(name: str, description: str, event_types: list[str], emails: list[str], tags=None) -> None:
        policy: dict[str, Any] = {
            "name": name,
            "description": description,
            "enabled": True,
            "event_types": event_types,
        }
        if tags:
            policy["tags"] = tags
        policy["notification_service"] = {"email": {"email_addresses": emails}}
        policies.append(policy)

    if platform_emails and choose.agent_unavailable:
        email_policy(
            f"{config.name}-agent-unavailable",
            f"The {config.name} agent stopped heartbeating to Dagster+.",
            ["AGENT_UNAVAILABLE"],
            platform_emails,
        )
    if platform_emails and choose.code_location_error:
        email_policy(
            f"{config.name}-code-location-error",
            f"A code location in {config.name} failed to load.",
            ["CODE_LOCATION_ERROR"],
            platform_emails,
        )
    if platform_emails:
        email_policy(
            f"{config.name}-sensor-tick-failure",
            f"A sensor or schedule tick failed in {config.name}, including the platform's alert sensors "
            "(alerts then wait in their cursor until the alert queue accepts them).",
            ["TICK_FAILURE"],
            platform_emails,
        )
    if alerting.job_failure_alerts == "dagster_plus" and choose.run_failure_by_team:
        for team, route in sorted(alerting.teams.items()):
            if route.email:
                email_policy(
                    f"{config.name}-{team}-job-failure",
                    f"Job failures of runs tagged {TAG_ALERT_TEAM}={team}.",
                    ["JOB_FAILURE"],
                    list(route.email),
                    tags=[{"key": TAG_ALERT_TEAM, "value": team}],
                )
    return {"alert_policies": policies}


def render_alert_policies_yaml(config: EnvironmentConfig) -> str:
    header = (
        f"# Dagster+ alert policies for '{config.name}', rendered from alerting.teams in config/{config.name}.yaml.\n"
        "#   dagster-cloud deployment alert-policies sync -a alert_policies.yaml --deployment <name>\n"
        "# Teams without email receive their alerts through the platform relay only (Slack/Teams webhooks).\n"
        f"# Job failures alert through: {config.alerting.job_failure_alerts} (alerting.job_failure_alerts).\n"
    )
    return header + dump_yaml(render_alert_policies(config))
