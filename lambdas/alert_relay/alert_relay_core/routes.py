"""The routing configuration (``routes.json``) that the CDK app renders at synth.

Format, schema_version 1::

    {
      "schema_version": 1,
      "environment": "prod",
      "default_team": "platform",
      "dedup_window_seconds": 900,
      "email_sender": "dagster-alerts@example.com",
      "teams": {
        "platform": {"email": ["platform-oncall@example.com"],
                     "slack_webhook_secret": "dagster/prod/slack-platform",
                     "teams_webhook_secret": null,
                     "sla_lateness_minutes": 5}
      }
    }

Every team needs at least one destination (an email address or a webhook secret), so an
alert routed to it can never be delivered nowhere; ``email_sender`` may be null only when no
team has email addresses. ``load_routes`` rejects anything else with a ``RoutesConfigError``
that names the offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_SCHEMA_VERSION = 1

_TOP_LEVEL_FIELDS = {"schema_version", "environment", "default_team", "dedup_window_seconds", "email_sender", "teams"}
_TEAM_FIELDS = {"email", "slack_webhook_secret", "teams_webhook_secret", "sla_lateness_minutes"}
_TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")


class RoutesConfigError(ValueError):
    """routes.json is missing or invalid; the message names the field and the problem."""


@dataclass(frozen=True)
class TeamRoute:
    name: str
    email: tuple[str, ...]
    slack_webhook_secret: str | None
    teams_webhook_secret: str | None
    sla_lateness_minutes: float

    @property
    def sla_lateness_seconds(self) -> float:
        return self.sla_lateness_minutes * 60.0


@dataclass(frozen=True)
class RoutesConfig:
    environment: str
    default_team: str
    dedup_window_seconds: int
    email_sender: str | None
    teams: Mapping[str, TeamRoute]

    def team(self, name: str) -> TeamRoute:
        return self.teams[name]


def load_routes(path: str | Path) -> RoutesConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesConfigError(f"cannot read routes file {str(path)!r}: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise RoutesConfigError(f"routes file {str(path)!r} is not valid JSON: {exc}") from exc
    return parse_routes(document)


def parse_routes(document: Any) -> RoutesConfig:
    if not isinstance(document, Mapping):
        raise RoutesConfigError("routes config must be a JSON object")
    unknown = sorted(set(document) - _TOP_LEVEL_FIELDS)
    if unknown:
        raise RoutesConfigError(f"routes config has unknown field(s): {', '.join(map(str, unknown))}")
    version = document.get("schema_version")
    if version != SUPPORTED_SCHEMA_VERSION:
        raise RoutesConfigError(f"routes config 'schema_version' must be {SUPPORTED_SCHEMA_VERSION}, got {version!r}")
    environment = _required_string(document, "environment", "routes config")
    default_team = _required_string(document, "default_team", "routes config")
    email_sender = document.get("email_sender")
    if email_sender is not None and (not isinstance(email_sender, str) or not _EMAIL.match(email_sender)):
        raise RoutesConfigError(f"routes config 'email_sender' is not an email address: {email_sender!r}")
    window = document.get("dedup_window_seconds")
    if isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= 7 * 24 * 3600:
        raise RoutesConfigError(
            f"routes config 'dedup_window_seconds' must be an integer between 1 and 604800, got {window!r}"
        )
    teams_raw = document.get("teams")
    if not isinstance(teams_raw, Mapping) or not teams_raw:
        raise RoutesConfigError("routes config 'teams' must be a non-empty object of team name -> team route")
    teams = {name: _parse_team(name, route) for name, route in teams_raw.items()}
    if email_sender is None and any(team.email for team in teams.values()):
        mailing = ", ".join(sorted(name for name, team in teams.items() if team.email))
        raise RoutesConfigError(f"routes config 'email_sender' is required because teams have email: {mailing}")
    if default_team not in teams:
        raise RoutesConfigError(
            f"routes config 'default_team' {default_team!r} is not one of the teams: {', '.join(sorted(teams))}"
        )
    return RoutesConfig(
        environment=environment,
        default_team=default_team,
        dedup_window_seconds=window,
        email_sender=email_sender,
        teams=teams,
    )


def _parse_team(name: Any, route: Any) -> TeamRoute:
    if not isinstance(name, str) or not _TEAM_NAME.match(name):
        raise RoutesConfigError(
            f"team name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-' starting alphanumeric"
        )
    where = f"team {name!r}"
    if not isinstance(route, Mapping):
        raise RoutesConfigError(f"{where} must be an object")
    unknown = sorted(set(route) - _TEAM_FIELDS)
    if unknown:
        raise RoutesConfigError(f"{where} has unknown field(s): {', '.join(map(str, unknown))}")

    emails = route.get("email", [])
    if emails is None:
        emails = []
    if not isinstance(emails, list) or not all(isinstance(address, str) for address in emails):
        raise RoutesConfigError(f"{where} 'email' must be a list of email addresses")
    for address in emails:
        if not _EMAIL.match(address):
            raise RoutesConfigError(f"{where} 'email' has an invalid address: {address!r}")
    if len(emails) > 50:
        raise RoutesConfigError(f"{where} 'email' has {len(emails)} addresses; SES allows at most 50 per message")

    slack = _optional_secret_name(route, "slack_webhook_secret", where)
    teams_secret = _optional_secret_name(route, "teams_webhook_secret", where)
    if not emails and slack is None and teams_secret is None:
        raise RoutesConfigError(
            f"{where} has no destination: set 'email', 'slack_webhook_secret' or 'teams_webhook_secret'"
        )

    minutes = route.get("sla_lateness_minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        raise RoutesConfigError(f"{where} 'sla_lateness_minutes' must be a number > 0, got {minutes!r}")

    return TeamRoute(
        name=name,
        email=tuple(emails),
        slack_webhook_secret=slack,
        teams_webhook_secret=teams_secret,
        sla_lateness_minutes=float(minutes),
    )


def _required_string(document: Mapping[str, Any], key: str, where: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RoutesConfigError(f"{where} '{key}' must be a non-empty string, got {value!r}")
    return value


def _optional_secret_name(route: Mapping[str, Any], key: str, where: str) -> str | None:
    value = route.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _SECRET_NAME.match(value):
        raise RoutesConfigError(f"{where} '{key}' must be null or a Secrets Manager secret name or ARN, got {value!r}")
    return value
