"""routes.json validation: the CDK app renders it, the relay refuses anything ambiguous."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alert_relay_core.errors import SettingsError
from alert_relay_core.routes import RoutesConfigError, load_routes, parse_routes
from alert_relay_core.settings import DEFAULT_ROUTES_FILE, RelaySettings
from relay_support import RELAY_DIR, routes_document


def test_example_routes_file_loads() -> None:
    routes = load_routes(RELAY_DIR / "routes.example.json")
    assert routes.default_team == "platform"
    assert routes.dedup_window_seconds == 900
    assert routes.team("data-eng").teams_webhook_secret == "dagster/prod/teams-data-eng"
    assert routes.team("data-eng").sla_lateness_seconds == 900.0
    assert routes.team("platform").email == ("platform-oncall@example.com",)


def _broken(change) -> dict[str, Any]:
    document = routes_document()
    change(document)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        (_broken(lambda d: d.update(schema_version=2)), "'schema_version' must be 1"),
        (_broken(lambda d: d.update(extra=True)), "unknown field(s): extra"),
        (_broken(lambda d: d.update(default_team="nobody")), "'default_team' 'nobody' is not one of the teams"),
        (_broken(lambda d: d.update(dedup_window_seconds=0)), "'dedup_window_seconds' must be an integer"),
        (_broken(lambda d: d.update(email_sender="not-an-address")), "'email_sender' is not an email address"),
        (
            _broken(lambda d: d.update(email_sender=None)),
            "'email_sender' is required because teams have email: data-eng, platform",
        ),
        (_broken(lambda d: d.update(teams={})), "'teams' must be a non-empty object"),
        (
            _broken(lambda d: d["teams"]["platform"].update(email=["bad address"])),
            "team 'platform' 'email' has an invalid address",
        ),
        (
            _broken(lambda d: d["teams"]["platform"].update(email=[], slack_webhook_secret=None)),
            "team 'platform' has no destination",
        ),
        (
            _broken(lambda d: d["teams"]["data-eng"].update(sla_lateness_minutes=0)),
            "'sla_lateness_minutes' must be a number > 0",
        ),
        (_broken(lambda d: d["teams"]["data-eng"].update(pager="x")), "team 'data-eng' has unknown field(s): pager"),
        (_broken(lambda d: d["teams"].update({"bad team!": d["teams"]["platform"]})), "team name 'bad team!'"),
    ],
)
def test_invalid_routes_are_rejected_with_the_field_named(document: Any, message: str) -> None:
    with pytest.raises(RoutesConfigError) as raised:
        parse_routes(document)
    assert message in str(raised.value)


def test_unreadable_or_non_json_routes_file(tmp_path: Path) -> None:
    with pytest.raises(RoutesConfigError, match="cannot read routes file"):
        load_routes(tmp_path / "missing.json")
    broken = tmp_path / "routes.json"
    broken.write_text("{not json")
    with pytest.raises(RoutesConfigError, match="is not valid JSON"):
        load_routes(broken)


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = RelaySettings.from_environ(
        {
            "STATE_TABLE_NAME": "state",
            "ROUTES_FILE": str(tmp_path / "r.json"),
            "HTTP_TIMEOUT_SECONDS": "2.5",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert (settings.state_table_name, settings.http_timeout_seconds, settings.region_name) == (
        "state",
        2.5,
        "eu-west-1",
    )
    assert settings.routes_file == tmp_path / "r.json"
    assert settings.ses_configuration_set is None

    defaults = RelaySettings.from_environ({"STATE_TABLE_NAME": "state", "SES_CONFIGURATION_SET": "alerts"})
    assert defaults.routes_file == DEFAULT_ROUTES_FILE == RELAY_DIR / "routes.json"
    assert (defaults.http_timeout_seconds, defaults.ses_configuration_set) == (5.0, "alerts")
    assert (
        RelaySettings.from_environ({"STATE_TABLE_NAME": "s", "ROUTES_FILE": "routes.json"}).routes_file
        == RELAY_DIR / "routes.json"
    )

    with pytest.raises(SettingsError, match="STATE_TABLE_NAME"):
        RelaySettings.from_environ({})
    with pytest.raises(SettingsError, match="HTTP_TIMEOUT_SECONDS"):
        RelaySettings.from_environ({"STATE_TABLE_NAME": "s", "HTTP_TIMEOUT_SECONDS": "soon"})


def test_chat_only_routes_need_no_email_sender() -> None:
    document = routes_document()
    document["email_sender"] = None
    for route in document["teams"].values():
        route["email"] = []
    routes = parse_routes(document)
    assert routes.email_sender is None
    assert routes.team("platform").slack_webhook_secret == "dagster/prod/slack-platform"
    assert routes.team("data-eng").teams_webhook_secret == "dagster/prod/teams-data-eng"
