"""One path per job failure, chosen in the environment file and rendered consistently: the Dagster+
alert policies, the run policy the code locations read, and the sensor that reads it."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.alerting.rendering import (
    alert_policy_problems,
    render_alert_policies,
    render_alert_policies_yaml,
)
from constructs_lib.code_locations.rendering import render_run_policy_json
from constructs_lib.config.loader import ConfigError, parse_environment
from constructs_lib.dagster_files import check_alert_policies
from dagster_platform.policy import loads_policy
from dagster_platform.run_guard import run_policy_guard_sensor
from dagster_platform.sensor_names import PLATFORM_SENSOR_NAMES, RUN_POLICY_GUARD
from dagster_platform.sensors import platform_alert_sensors

REPO_ROOT = Path(__file__).resolve().parents[2]


def environment(name: str, **alerting: Any) -> Any:
    data = yaml.safe_load((REPO_ROOT / "config" / f"{name}.yaml").read_text())
    data = copy.deepcopy(data)
    data["alerting"].update(alerting)
    return parse_environment(data, f"config/{name}.yaml", name)


def by_events(config: Any) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    policies: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for policy in yaml.safe_load(render_alert_policies_yaml(config))["alert_policies"]:
        policies.setdefault(tuple(policy["event_types"]), []).append(policy)
    return policies


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_examples_choose_the_relay_explicitly_and_render_no_dagster_plus_job_failure_policy(name: str) -> None:
    text = (REPO_ROOT / "config" / f"{name}.yaml").read_text()
    assert "job_failure_alerts: relay" in text
    config = environment(name)

    assert ("JOB_FAILURE",) not in by_events(config)
    assert loads_policy(render_run_policy_json(config), source="run_policy.json").job_failure_alerts == "relay"


def test_dagster_plus_renders_one_job_failure_policy_per_team_and_the_policy_tells_the_sensor() -> None:
    config = environment("prod", job_failure_alerts="dagster_plus")

    failures = by_events(config)[("JOB_FAILURE",)]
    assert {p["name"]: p["alert_targets"] for p in failures} == {
        f"prod-{team}-job-failure": [{"run_result_target": {"tags": [{"key": "alert_team", "value": team}]}}]
        for team in ("data-eng", "ml", "platform")
    }
    assert loads_policy(render_run_policy_json(config), source="run_policy.json").job_failure_alerts == "dagster_plus"


def test_dagster_plus_is_refused_when_a_team_would_get_no_job_failure_alert() -> None:
    with pytest.raises(ConfigError, match="teams ml have no email"):
        environment("dev", job_failure_alerts="dagster_plus")  # ml has Slack only in dev
    with pytest.raises(ConfigError, match="alerting.job_failure_alerts = 'email': Input should be 'relay' or 'dagster_plus'"):
        environment("dev", job_failure_alerts="email")


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_platform_sensor_tick_failures_reach_the_platform_team(name: str) -> None:
    config = environment(name)
    [policy] = by_events(config)[("TICK_FAILURE",)]

    assert policy["notification_service"] == {
        "email": {"email_addresses": list(config.alerting.teams[config.alerting.default_team].email)}
    }
    [target] = policy["alert_targets"]
    watched = {(s["location_name"], s["name"]) for s in target["schedule_or_sensor_target"]["schedules_or_sensors"]}
    assert watched == {(location, sensor) for location in config.code_locations for sensor in PLATFORM_SENSOR_NAMES}
    assert policy["policy_options"] == {"consecutive_failure_threshold": 2, "renotify_interval_minutes": 60}


def test_the_watched_names_are_the_names_the_sensors_get() -> None:
    assert {s.name for s in platform_alert_sensors()} | {RUN_POLICY_GUARD} == set(PLATFORM_SENSOR_NAMES)
    assert inspect.signature(run_policy_guard_sensor).parameters["name"].default == RUN_POLICY_GUARD


@pytest.mark.parametrize("choice", ["relay", "dagster_plus"])
def test_rendered_policies_follow_the_dagster_plus_rules(choice: str) -> None:
    document = render_alert_policies(environment("prod", job_failure_alerts=choice))
    assert alert_policy_problems(document) == []
    assert check_alert_policies(yaml.safe_dump(document)) == []  # the synth gate's own shape check


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"event_types": ["TICK_FAILURES"]}, "'TICK_FAILURES' is not a Dagster+ event type"),
        ({"event_types": ["TICK_FAILURE", "JOB_FAILURE"]}, "mixes categories job, schedule_sensor"),
        (
            {"event_types": ["JOB_FAILURE"], "policy_options": {"consecutive_failure_threshold": 2}},
            "consecutive_failure_threshold: only for TICK_FAILURE",
        ),
        (
            {"event_types": ["TICK_FAILURE"], "alert_targets": [{"run_result_target": {}}]},
            "run_result_target does not apply to TICK_FAILURE",
        ),
        ({"event_types": ["TICK_FAILURE"], "tags": [{"key": "a", "value": "b"}]}, ".tags: not a policy field"),
    ],
)
def test_the_rules_catch_what_dagster_plus_would_refuse(policy: dict[str, Any], problem: str) -> None:
    document = {
        "alert_policies": [
            {"name": "p", "enabled": True, "notification_service": {"email": {"email_addresses": ["a@b.c"]}}, **policy}
        ]
    }
    assert any(problem in line for line in alert_policy_problems(document)), alert_policy_problems(document)
