"""Render the alert routes (for the relay Lambda) and Dagster+ alert policies from one team config."""

from __future__ import annotations

import json
from typing import Any

from dagster_platform.limits import TAG_ALERT_TEAM
from dagster_platform.sensor_names import PLATFORM_SENSOR_NAMES

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


#: Dagster+ reads ``alert_policies.yaml`` server-side and dagster-cloud ships no schema for it. These
#: are the rules of its YAML reference (docs/docs/guides/observe/alerts/yaml-reference.md in
#: dagster-io/dagster) that the rendered policies depend on; ``alert_policy_problems`` applies them.
EVENT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "job": ("JOB_FAILURE", "JOB_SUCCESS", "JOB_LONG_RUNNING"),
    "schedule_sensor": ("TICK_FAILURE",),
    "infrastructure": ("AGENT_UNAVAILABLE", "CODE_LOCATION_ERROR", "CODE_LOCATION_DEPLOY_SUCCESS"),
}
TARGETS_BY_CATEGORY = {
    "job": ("run_result_target", "long_running_job_threshold_target"),
    "schedule_sensor": ("schedule_or_sensor_target",),
    "infrastructure": ("code_location_target",),
}
POLICY_KEYS = ("name", "description", "enabled", "event_types", "alert_targets", "notification_service", "policy_options")
RENOTIFY_EVENTS = ("TICK_FAILURE", "AGENT_UNAVAILABLE", "CODE_LOCATION_ERROR")

#: Tick failures of the platform's sensors: a single failed tick is retried by the next one (the
#: alert waits in the sensor's cursor), two in a row are an outage; remind hourly while it lasts.
TICK_FAILURE_OPTIONS = {"consecutive_failure_threshold": 2, "renotify_interval_minutes": 60}


def render_alert_policies(config: EnvironmentConfig) -> dict[str, Any]:
    """Dagster+ native policies: agent and code-location health, and failing ticks of the
    platform's own sensors in the declared code locations (the alert sensors fail their tick when
    the alert queue is unreachable), to the default team; run failures of each team's jobs,
    selected by the ``alert_team`` tag, to that team only when ``alerting.job_failure_alerts`` is
    ``dagster_plus`` (with ``relay`` the run-failure sensor alerts instead: one path per failure)."""
    alerting = config.alerting
    choose = alerting.dagster_cloud_policies
    platform_emails = list(alerting.teams[alerting.default_team].email)
    policies: list[dict[str, Any]] = []

    def email_policy(
        name: str, description: str, event_types: list[str], emails: list[str], targets=None, options=None
    ) -> None:
        policy: dict[str, Any] = {
            "name": name,
            "description": description,
            "enabled": True,
            "event_types": event_types,
        }
        if targets:
            policy["alert_targets"] = targets
        policy["notification_service"] = {"email": {"email_addresses": emails}}
        if options:
            policy["policy_options"] = options
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
            f"{config.name}-platform-sensor-failure",
            f"The platform's sensors failed two ticks in a row in {config.name}: alerts wait in the sensor's "
            "cursor until the alert queue accepts them (check the queue and the code location's role).",
            ["TICK_FAILURE"],
            platform_emails,
            targets=[{"schedule_or_sensor_target": _platform_sensor_target(config)}],
            options=dict(TICK_FAILURE_OPTIONS),
        )
    if alerting.job_failure_alerts == "dagster_plus" and choose.run_failure_by_team:
        for team, route in sorted(alerting.teams.items()):
            if route.email:
                email_policy(
                    f"{config.name}-{team}-job-failure",
                    f"Job failures of runs tagged {TAG_ALERT_TEAM}={team}.",
                    ["JOB_FAILURE"],
                    list(route.email),
                    targets=[{"run_result_target": {"tags": [{"key": TAG_ALERT_TEAM, "value": team}]}}],
                )
    return {"alert_policies": policies}


def _platform_sensor_target(config: EnvironmentConfig) -> dict[str, Any]:
    """The platform's sensors in each declared code location (``__repository__``: ``Definitions``);
    without declared locations, every sensor of the deployment."""
    if not config.code_locations:
        return {"types": ["SENSOR"]}
    return {
        "schedules_or_sensors": [
            {"location_name": location, "repo_name": "__repository__", "name": sensor}
            for location in sorted(config.code_locations)
            for sensor in PLATFORM_SENSOR_NAMES
        ],
        "types": ["SENSOR"],
    }


def alert_policy_problems(document: Any) -> list[str]:
    """Where ``document`` breaks the Dagster+ alert policy rules above; one line each."""
    known_events = {event: category for category, events in EVENT_CATEGORIES.items() for event in events}
    policies = document.get("alert_policies") if isinstance(document, dict) else None
    if not isinstance(policies, list):
        return ["alert_policies: must be a list"]
    problems: list[str] = []
    for index, policy in enumerate(policies):
        where = f"alert_policies[{index}]"
        if not isinstance(policy, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        where = f"alert_policies[{index}] ({policy.get('name')})"
        problems += [f"{where}.{key}: not a policy field" for key in sorted(set(policy) - set(POLICY_KEYS))]
        problems += [f"{where}.{key}: required" for key in ("name", "enabled", "event_types", "notification_service") if key not in policy]
        events = policy.get("event_types") or []
        unknown = [event for event in events if event not in known_events]
        problems += [f"{where}.event_types: {event!r} is not a Dagster+ event type the platform uses" for event in unknown]
        categories = {known_events[event] for event in events if event in known_events}
        if len(categories) > 1:
            problems.append(f"{where}.event_types: mixes categories {', '.join(sorted(categories))}")
        allowed_targets = {t for category in categories for t in TARGETS_BY_CATEGORY[category]}
        for target in policy.get("alert_targets") or []:
            kinds = list(target) if isinstance(target, dict) else [repr(target)]
            problems += [f"{where}.alert_targets: {kind} does not apply to {', '.join(events)}" for kind in kinds if kind not in allowed_targets]
        options = policy.get("policy_options") or {}
        threshold = options.get("consecutive_failure_threshold")
        if threshold is not None and (events != ["TICK_FAILURE"] or not 1 <= threshold <= 100):
            problems.append(f"{where}.policy_options.consecutive_failure_threshold: only for TICK_FAILURE, 1..100")
        renotify = options.get("renotify_interval_minutes")
        if renotify is not None and (not set(events) <= set(RENOTIFY_EVENTS) or renotify < 1):
            problems.append(f"{where}.policy_options.renotify_interval_minutes: only for {', '.join(RENOTIFY_EVENTS)}, >= 1")
        service = policy.get("notification_service")
        if not (isinstance(service, dict) and len(service) == 1):
            problems.append(f"{where}.notification_service: must name exactly one service")
    return problems


def render_alert_policies_yaml(config: EnvironmentConfig) -> str:
    header = (
        f"# Dagster+ alert policies for '{config.name}', rendered from alerting.teams in config/{config.name}.yaml.\n"
        "#   dagster-cloud deployment alert-policies sync -a alert_policies.yaml --deployment <name>\n"
        "# Teams without email receive their alerts through the platform relay only (Slack/Teams webhooks).\n"
        f"# Job failures alert through: {config.alerting.job_failure_alerts} (alerting.job_failure_alerts).\n"
    )
    document = render_alert_policies(config)
    problems = alert_policy_problems(document)
    if problems:  # a rendering bug: Dagster+ would refuse the file at sync
        raise ValueError(f"alert_policies.yaml for {config.name}: " + "; ".join(problems))
    return header + dump_yaml(document)
