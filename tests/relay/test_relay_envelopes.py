"""Parsing and routing of every envelope type, without AWS."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import boto3
import pytest
from alert_relay_core import render
from alert_relay_core.alerts import IgnoredMessage, NormalizedAlert, ParsedAlert, printable
from alert_relay_core.aws import EcsTaskTagLookup
from alert_relay_core.envelopes import parse_message
from alert_relay_core.routes import parse_routes
from alert_relay_core.routing import route_alert
from botocore.stub import Stubber
from relay_payloads import cloudwatch_alarm_body, contract_alert, fixture, freshness_alert, sns_envelope
from relay_support import routes_document

RECEIVED_AT = "2025-11-24T07:00:00+00:00"
ROUTES = parse_routes(routes_document())


def parse(body: str | dict) -> ParsedAlert:
    result = parse_message(body if isinstance(body, str) else json.dumps(body), received_at=RECEIVED_AT)
    assert isinstance(result, ParsedAlert)
    return result


def routed(body: str | dict, tags: dict[str, str] | None = None) -> NormalizedAlert:
    return route_alert(parse(body), ROUTES, (lambda arn: tags) if tags is not None else None)


def test_cloudwatch_alarm_states_map_to_severities() -> None:
    alarm = routed(cloudwatch_alarm_body())
    assert (alarm.source, alarm.kind, alarm.severity, alarm.team) == (
        "cloudwatch_alarm",
        "alarm_state_change",
        "error",
        "platform",
    )
    assert alarm.title == "CloudWatch alarm dagster-prod-agent-running-tasks is in ALARM"
    assert "Threshold Crossed" in alarm.details
    assert ("Metric", "ECS/ContainerInsights/RunningTaskCount (LessThanThreshold 1.0)") in alarm.facts
    assert alarm.occurred_at == "2025-11-24T06:40:12.345000+00:00"
    assert alarm.links[0].url.startswith(
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/"
    )

    assert routed(cloudwatch_alarm_body(NewStateValue="OK", OldStateValue="ALARM")).severity == "info"
    assert routed(cloudwatch_alarm_body(NewStateValue="INSUFFICIENT_DATA")).severity == "warning"


def test_alarm_description_directives_pick_team_and_severity() -> None:
    description = "Agent down.\nalert_team=data-eng\nalert_severity=critical"
    alarm = routed(cloudwatch_alarm_body(AlarmDescription=description))
    assert (alarm.team, alarm.severity) == ("data-eng", "critical")
    assert "alert_team" not in alarm.details
    assert "Agent down." in alarm.details


def test_alarm_transitions_have_distinct_dedup_keys() -> None:
    alarm = parse(cloudwatch_alarm_body())
    recovered = parse(cloudwatch_alarm_body(NewStateValue="OK", StateChangeTime="2025-11-24T07:10:00.000+0000"))
    again = parse(cloudwatch_alarm_body())
    assert alarm.dedup_key == again.dedup_key
    assert alarm.dedup_key != recovered.dedup_key


def test_ses_bounce_and_complaint() -> None:
    bounce = routed(sns_envelope(fixture("ses_bounce")))
    assert (bounce.source, bounce.kind, bounce.severity, bounce.team) == (
        "ses_notification",
        "ses_bounce",
        "error",
        "platform",
    )
    assert "former-analyst@example.com: 5.1.1 smtp; 550 5.1.1 user unknown" in bounce.details
    assert bounce.email_exclusions == frozenset({"former-analyst@example.com"})
    assert ("Subject", "[prod] ERROR: Run of daily_orders failed") in bounce.facts

    transient = fixture("ses_bounce")
    transient["bounce"]["bounceType"] = "Transient"
    assert routed(sns_envelope(transient)).severity == "warning"

    complaint = routed(sns_envelope(fixture("ses_complaint")))
    assert (complaint.kind, complaint.severity) == ("ses_complaint", "warning")
    assert complaint.email_exclusions == frozenset({"data-eng@example.com"})
    assert "abuse" in complaint.details


def test_ses_event_publishing_format_is_recognised() -> None:
    event = fixture("ses_bounce")
    event["eventType"] = event.pop("notificationType")
    assert parse(sns_envelope(event)).kind == "ses_bounce"


def test_ecs_oom_names_the_memory_tag() -> None:
    oom = routed(json.dumps(fixture("ecs_task_oom")))
    assert (oom.source, oom.kind, oom.severity, oom.team) == ("ecs_task", "ecs_task_oom", "error", "platform")
    assert oom.title == "ECS task dagster-run-analytics ran out of memory"
    assert "Raise the `ecs/memory` tag" in oom.details
    assert "the task had 2048 MiB" in oom.details
    assert "OutOfMemoryError: Container killed due to memory usage" in oom.details
    assert ("Task definition", "dagster-run-analytics:7") in oom.facts
    assert oom.links[0].url == (
        "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/dagster-prod/tasks/"
        "7f6c1b2a9d3e4f5a8b7c6d5e4f3a2b1c?region=us-east-1"
    )


def test_ecs_non_zero_exit() -> None:
    failed = routed(json.dumps(fixture("ecs_task_nonzero_exit")))
    assert (failed.kind, failed.severity) == ("ecs_task_failed", "error")
    assert "- run: exit code 1" in failed.details
    assert "ecs/memory" not in failed.details


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"lastStatus": "RUNNING"}, "not STOPPED"),
        ({"stopCode": "UserInitiated", "containers": [{"name": "run", "exitCode": 143}]}, "stopped by a user"),
        ({"containers": [{"name": "run", "exitCode": 0}]}, "exited 0"),
        (
            {
                "stopCode": "ServiceSchedulerInitiated",
                "stoppedReason": "Scaling activity initiated by (deployment ecs-svc/1)",
                "containers": [{"name": "agent", "exitCode": 0}],
            },
            "replaced or scaled in",
        ),
    ],
)
def test_ecs_stops_that_are_not_failures_are_ignored(change: dict, reason: str) -> None:
    event = fixture("ecs_task_nonzero_exit")
    event["detail"].update(change)
    result = parse_message(json.dumps(event), received_at=RECEIVED_AT)
    assert isinstance(result, IgnoredMessage)
    assert reason in result.reason


def test_ecs_task_failed_to_start() -> None:
    event = fixture("ecs_task_nonzero_exit")
    event["detail"].update(
        stopCode="TaskFailedToStart",
        stoppedReason="CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        containers=[{"name": "run", "lastStatus": "STOPPED"}],
    )
    alert = parse(event)
    assert (alert.kind, alert.severity) == ("ecs_task_failed_to_start", "error")
    assert "CannotPullContainerError" in alert.details


def test_ecs_tag_routes_to_known_team_and_unknown_tag_falls_back() -> None:
    body = json.dumps(fixture("ecs_task_oom"))
    assert routed(body, tags={"alert_team": "data-eng"}).team == "data-eng"
    fallback = routed(body, tags={"alert_team": "nobody"})
    assert fallback.team == "platform"
    assert "'nobody'" in fallback.routing_notes[0]
    assert routed(body, tags={}).team == "platform"


def test_contract_alert_uses_team_field_then_tag() -> None:
    alert = routed(contract_alert())
    assert (alert.source, alert.kind, alert.severity, alert.team) == ("dagster", "run_failure", "error", "data-eng")
    assert alert.dedup_key == "dagster:run_failure:4f1a2b3c-5d6e-7f80-91a2-b3c4d5e6f708"
    assert alert.links[0].label == "Run"
    assert ("Job", "daily_orders") in alert.facts
    assert routed(contract_alert(team="platform")).team == "platform"
    assert routed(contract_alert(tags={})).team == "platform"


def test_contract_alert_without_dedup_key_derives_one_from_the_run() -> None:
    alert = parse(contract_alert(dedup_key=None))
    assert alert.dedup_key == "dagster:run_failure:4f1a2b3c-5d6e-7f80-91a2-b3c4d5e6f708:"


def test_contract_alert_through_sns_is_a_dagster_alert() -> None:
    alert = parse(sns_envelope(contract_alert()))
    assert (alert.source, alert.kind, alert.requested_team) == ("dagster", "run_failure", "data-eng")


def test_freshness_alert_carries_its_evaluation() -> None:
    alert = routed(freshness_alert(420.0, "2025-11-24T06:00:00+00:00"))
    assert alert.freshness is not None
    assert (alert.freshness.deployment, alert.freshness.asset_key, alert.freshness.lateness_seconds) == (
        "prod",
        "analytics/orders",
        420.0,
    )
    without_deployment = freshness_alert(1.0, "2025-11-24T06:00:00+00:00")
    del without_deployment["deployment"]
    assert routed(without_deployment).freshness.deployment == "prod"  # the routes environment


def test_contract_violation_becomes_raw_alert_with_the_error() -> None:
    alert = routed(contract_alert(severity="catastrophic"))
    assert (alert.source, alert.kind, alert.team) == ("raw", "unparseable_message", "platform")
    assert "alert field 'severity' is 'catastrophic'" in alert.details
    assert "catastrophic" in alert.details.split("Raw message", 1)[1]


def test_dagster_cloud_webhook_free_form_body() -> None:
    alert = routed(fixture("dagster_cloud_webhook"))
    assert (alert.source, alert.kind, alert.severity, alert.team) == (
        "dagster_cloud_webhook",
        "dagster_cloud_alert",
        "error",
        "data-eng",
    )
    assert alert.title == "Job daily_orders failed in prod"
    assert alert.details.startswith("Run 9c8b7a6d failed")
    assert alert.links[0].url.endswith("/runs/9c8b7a6d-0000-4000-8000-000000000001")
    assert ("Alert policy", "prod-job-failures") in alert.facts
    assert ("Event type", "JOB_FAILURE") in alert.facts


def test_dagster_cloud_webhook_keeps_unmapped_fields_and_text_bodies() -> None:
    wrapper = {
        "source": "dagster_cloud_webhook",
        "received_at": RECEIVED_AT,
        "body": {"text": "hi", "custom_field": "kept"},
    }
    assert '"custom_field": "kept"' in routed(wrapper).details

    text = routed({"source": "dagster_cloud_webhook", "received_at": RECEIVED_AT, "body": "Run failed\nmore"})
    assert (text.title, text.details, text.team) == ("Dagster+ alert: Run failed", "Run failed\nmore", "platform")


def test_dagster_cloud_webhook_with_contract_body_is_validated() -> None:
    good = routed({"source": "dagster_cloud_webhook", "received_at": RECEIVED_AT, "body": contract_alert()})
    assert (good.source, good.kind, good.team) == ("dagster_cloud_webhook", "run_failure", "data-eng")
    bad = routed({"source": "dagster_cloud_webhook", "received_at": RECEIVED_AT, "body": contract_alert(kind="nope")})
    assert bad.source == "raw"


def test_plain_sns_text_message() -> None:
    alert = routed(
        sns_envelope(
            "Disk 91% full on bastion", subject="Disk usage", message_id="7a3c0000-0000-4000-8000-000000000009"
        )
    )
    assert (alert.source, alert.kind, alert.severity, alert.team) == ("sns", "sns_message", "warning", "platform")
    assert (alert.title, alert.details) == ("Disk usage", "Disk 91% full on bastion")
    assert alert.dedup_key == "sns:7a3c0000-0000-4000-8000-000000000009"
    assert ("Topic", "dagster-prod-alerts") in alert.facts
    assert routed(sns_envelope("first line\nsecond")).title == "first line"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2, 3]", "JSON list, not an object"),
        ('{"hello": "world"}', "matches no known envelope"),
        ('{"Type": "Notification", "TopicArn": "arn", "Message": 42}', "'Message' must be a string"),
        (
            '{"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}',
            "unsupported EventBridge event",
        ),
        ('{"schema": "dagster-platform/alert@1"', "not JSON"),
    ],
)
def test_unparseable_messages_become_raw_alerts(body: str, error: str) -> None:
    alert = routed(body)
    assert (alert.source, alert.kind, alert.severity, alert.team) == ("raw", "unparseable_message", "error", "platform")
    assert error in alert.details
    assert body in alert.details


def test_raw_alert_truncates_huge_bodies() -> None:
    body = "x" * 300_000
    alert = routed(body)
    assert len(alert.details) < 6000
    assert "300000 characters" in alert.details
    assert "truncated" in alert.details


def test_renderers_escape_and_bound_their_output() -> None:
    alert = routed(contract_alert(title="<b>Run</b> & failed", details="&" * 7999))
    assert alert.source == "dagster"
    assert "&lt;b&gt;Run&lt;/b&gt; &amp; failed" in render.email_html(alert)
    slack = render.slack_message(alert)
    assert all(
        len(block["text"]["text"]) <= 3000
        for block in slack["blocks"]
        if block["type"] == "section" and "text" in block
    )
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    assert "\n" not in render.email_subject(routed(contract_alert(title="two\nlines")))
    card = render.teams_message(alert)["attachments"][0]["content"]
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Run", "url": contract_alert()["links"][0]["url"]}


class _MailClientView(HTMLParser):
    """The elements, attributes and text a mail client builds from the HTML part."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]
        assert not [name for name, _ in attrs if name.startswith("on")], attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_alert_text_in_email_html_stays_text_for_a_mail_client() -> None:
    title = '"><img src=x onerror=alert(1)> & <script>steal()</script> \'quoted\''
    url = 'https://example.dagster.cloud/prod/runs/1?a=1&b="><script>x()</script>" onmouseover="alert(1)'
    details = '<a href="https://evil.example">click</a>'
    alert = routed(contract_alert(title=title, details=details, links=[{"label": "<b>Run</b>", "url": url}]))

    view = _MailClientView()
    view.feed(render.email_html(alert))
    view.close()

    assert set(view.tags) <= {"html", "body", "h2", "pre", "table", "tr", "th", "td", "ul", "li", "a"}
    assert view.tags.count("a") == 1 and view.hrefs == [url]  # the one link is the alert's, unbroken
    text = "".join(view.text)
    assert title in text and details in text and "<b>Run</b>" in text


def test_ecs_tag_lookup_tolerates_access_denied() -> None:
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    task_arn = fixture("ecs_task_oom")["detail"]["taskArn"]

    class OneClient:
        def client(self, service: str, region_name: str | None = None):
            assert (service, region_name) == ("ecs", "us-east-1")
            return client

    with Stubber(client) as stubber:
        stubber.add_client_error(
            "list_tags_for_resource",
            service_error_code="AccessDeniedException",
            http_status_code=400,
            expected_params={"resourceArn": task_arn},
        )
        stubber.add_response(
            "list_tags_for_resource",
            {"tags": [{"key": "alert_team", "value": "data-eng"}, {"key": "dagster/run_id", "value": "r1"}]},
            {"resourceArn": task_arn},
        )
        lookup = EcsTaskTagLookup(OneClient())
        assert lookup(task_arn) == {}
        assert lookup(task_arn) == {"alert_team": "data-eng", "dagster/run_id": "r1"}


def test_control_characters_are_made_printable() -> None:
    alert = routed(contract_alert(title="Run\x00 failed\x1b[31m", details="line1\nline2\x07"))
    assert alert.title == "Run\ufffd failed\ufffd[31m"
    assert alert.details == "line1\nline2\ufffd"
    raw = routed("\x00\x01 not json")
    assert "\x00" not in raw.details
    assert "\ufffd\ufffd not json" in raw.details


def test_printable_replaces_exactly_c0_controls_del_and_surrogates() -> None:
    kept_controls = {"\t", "\n", "\r"}
    for code in [*range(0x10000), 0x1F600, 0x10FFFF]:
        character = chr(code)
        unsafe = (code < 0x20 and character not in kept_controls) or code == 0x7F or 0xD800 <= code <= 0xDFFF
        assert printable(f"ok {character} ok") == ("ok \ufffd ok" if unsafe else f"ok {character} ok"), hex(code)
