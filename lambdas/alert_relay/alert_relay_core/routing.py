"""Choose the team for a parsed alert.

The alert's own team (contract ``team`` / ``tags.alert_team``, an ``alert_team=<name>`` line
in a CloudWatch alarm description, or an ``alert_team`` tag on the ECS task) wins when
routes.json knows it; otherwise the default team gets the alert, with a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from .alerts import NormalizedAlert, ParsedAlert, printable, truncate
from .routes import RoutesConfig

TaskTagLookup = Callable[[str], Mapping[str, str]]
"""Task ARN -> the task's tags; best effort, returns {} when the tags cannot be read."""

TEAM_TAG = "alert_team"
_DAGSTER_TASK_TAG_FACTS = (("dagster/run_id", "Run ID"), ("dagster/job_name", "Job"))


def resolve_team(requested_team: str | None, routes: RoutesConfig) -> tuple[str, tuple[str, ...]]:
    """(team, routing notes) for the team an alert asked for."""
    if requested_team is None:
        return routes.default_team, ()
    if requested_team in routes.teams:
        return requested_team, ()
    shown = truncate(printable(requested_team), 100)
    note = (
        f"This alert names team {shown!r}, which is not configured for alert routing; "
        f"it was sent to the default team {routes.default_team!r}. Fix the alert_team tag or add the team."
    )
    return routes.default_team, (note,)


def route_alert(
    parsed: ParsedAlert, routes: RoutesConfig, task_tag_lookup: TaskTagLookup | None = None
) -> NormalizedAlert:
    requested_team = parsed.requested_team
    facts = parsed.facts
    if requested_team is None and parsed.ecs_task_arn and task_tag_lookup is not None:
        tags = task_tag_lookup(parsed.ecs_task_arn)
        requested_team = tags.get(TEAM_TAG) or None
        facts += tuple((label, tags[tag]) for tag, label in _DAGSTER_TASK_TAG_FACTS if tags.get(tag))
    team, notes = resolve_team(requested_team, routes)
    freshness = parsed.freshness
    if freshness is not None and not freshness.deployment:
        freshness = replace(freshness, deployment=routes.environment)
    return NormalizedAlert(
        source=parsed.source,
        kind=parsed.kind,
        severity=parsed.severity,
        team=team,
        title=printable(parsed.title),
        details=printable(parsed.details),
        links=parsed.links,
        dedup_key=parsed.dedup_key,
        occurred_at=parsed.occurred_at,
        environment=routes.environment,
        facts=tuple((label, printable(value)) for label, value in facts),
        routing_notes=notes,
        freshness=freshness,
        email_exclusions=parsed.email_exclusions,
    )
