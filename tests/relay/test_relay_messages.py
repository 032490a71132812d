"""What people receive, and envelopes and clocks that used to mislead the relay.

Through the real handler with moto (SNS, SQS, SES, DynamoDB) and the local webhook server."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from types import ModuleType

import boto3
from alert_relay_core import render
from alert_relay_core.envelopes import parse_message
from alert_relay_core.routes import parse_routes
from alert_relay_core.routing import route_alert
from relay_payloads import (
    REGION,
    FakeLambdaContext,
    cloudwatch_alarm_body,
    contract_alert,
    fixture,
    freshness_alert,
    invoke,
    queued,
    sns_envelope,
    sqs_event_from_received,
)
from relay_support import (
    DATA_ENG_EMAIL,
    PLATFORM_EMAIL,
    SLACK_PLATFORM,
    TEAMS_DATA_ENG,
    TEAMS_PAYLOAD_LIMIT_BYTES,
    WebhookServer,
    alerts_topic_into_queue,
    body_text,
    emails_to,
    routes_document,
    slack_refusal,
    state_items,
)

ROUTES = parse_routes(routes_document())


def now_iso(offset_seconds: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).isoformat()


# --- envelopes ----------------------------------------------------------------------------------


def test_raw_message_delivery_through_real_sns_keeps_team_and_severity(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    """With RawMessageDelivery the queue gets the alarm JSON itself; an OK alarm is news, not an error."""
    topic_arn, queue_url = alerts_topic_into_queue(raw_delivery=True)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    alarm = fixture("cloudwatch_alarm")
    alarm.update(NewStateValue="OK", OldStateValue="ALARM", AlarmDescription="Agent is back.\nalert_team=data-eng")
    sns.publish(TopicArn=topic_arn, Message=json.dumps(alarm))

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert json.loads(received[0]["Body"])["AlarmName"] == alarm["AlarmName"]  # no SNS envelope
    assert relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext()) == {"batchItemFailures": []}

    (email,) = emails_to(DATA_ENG_EMAIL)
    assert email.subject == "[prod] INFO: CloudWatch alarm dagster-prod-agent-running-tasks is OK again"
    assert emails_to(PLATFORM_EMAIL) == []


def test_sns_inside_sns_is_unwrapped() -> None:
    alarm = fixture("cloudwatch_alarm")
    alarm.update(NewStateValue="OK", AlarmDescription="alert_team=data-eng")
    twice = sns_envelope(json.loads(sns_envelope(alarm)))
    three_times = sns_envelope(json.loads(twice))

    for body in (twice, three_times):
        alert = route_alert(parse_message(body, received_at=now_iso()), ROUTES)
        assert (alert.source, alert.severity, alert.team) == ("cloudwatch_alarm", "info", "data-eng")

    too_deep = sns_envelope(json.loads(three_times))
    assert route_alert(parse_message(too_deep, received_at=now_iso()), ROUTES).source == "raw"


def test_raw_ses_notification_is_read() -> None:
    alert = route_alert(parse_message(json.dumps(fixture("ses_bounce")), received_at=now_iso()), ROUTES)
    assert (alert.kind, alert.severity) == ("ses_bounce", "error")


# --- clocks -------------------------------------------------------------------------------------


def test_a_far_future_evaluation_cannot_silence_an_assets_sla_alerts(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    assert invoke(relay_handler, queued(freshness_alert(400, "9999-12-31T23:59:59+00:00"))) == {
        "batchItemFailures": []
    }
    time.sleep(1.1)  # evaluations are ordered by their (bounded) time
    assert invoke(relay_handler, queued(freshness_alert(0, now_iso()))) == {"batchItemFailures": []}

    titles = [request.payload["text"] for request in webhook_server.received(SLACK_PLATFORM)]
    assert titles == [
        "[prod] WARNING: Freshness SLA breached: analytics/orders is 6.7 min late (threshold 5.0 min)",
        "[prod] INFO: Freshness SLA recovered: analytics/orders is within 5.0 min again",
    ]
    breach_email = emails_to(PLATFORM_EMAIL)[0]
    assert "The sender dated this alert 9999-12-31T23:59:59+00:00, after it was received" in body_text(breach_email)
    (sla,) = [item for item in state_items() if item["pk"]["S"].startswith("sla#")]
    assert float(sla["evaluated_at"]["N"]) < time.time() + 60


def test_an_absurd_sent_timestamp_does_not_fail_the_record(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    for sent in ("99999999999999999999999", "-1", "１２３", "253402300799999"):
        message = queued(sns_envelope(f"disk full {sent}", subject="disk"))
        assert invoke(relay_handler, message, SentTimestamp=sent) == {"batchItemFailures": []}
    assert len(webhook_server.received(SLACK_PLATFORM)) == 4


# --- what people read ---------------------------------------------------------------------------


def test_messages_read_well_and_keep_internal_names_out(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    dagster_plus = fixture("dagster_cloud_webhook")
    assert invoke(relay_handler, queued(json.dumps(dagster_plus)), queued(sns_envelope(fixture("ses_bounce")))) == {
        "batchItemFailures": []
    }

    (data_eng_email,) = emails_to(DATA_ENG_EMAIL)
    text = body_text(data_eng_email)
    assert "2025-11-24 06:50:00 UTC" in text  # not 2025-11-24T06:50:00+00:00
    assert "Dagster+ alert policy" in text
    assert 'Open the run in Dagster+</a>' in text
    for internal in ("dagster_cloud_webhook", "dagster_cloud_alert", "Dedup key", "dedup key", "sha256", "content-sha256"):
        assert internal not in text
    (teams,) = webhook_server.received(TEAMS_DATA_ENG)
    actions = teams.payload["attachments"][0]["content"]["actions"]
    assert actions[0]["title"] == "Open the run in Dagster+"
    assert "dedup" not in teams.text.lower()

    (bounce_email,) = emails_to(PLATFORM_EMAIL)
    assert "https://us-east-1.console.aws.amazon.com/ses/home?region=us-east-1#/suppression-list" in body_text(
        bounce_email
    )
    assert "Amazon SES notification" in body_text(bounce_email)


def test_slack_mentions_from_names_stay_text(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    name = "<!channel> <!here> <@U024BE7LH> disk & co"
    body = cloudwatch_alarm_body(AlarmName=name, AlarmArn=f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:x")

    assert invoke(relay_handler, queued(body)) == {"batchItemFailures": []}

    (slack,) = webhook_server.received(SLACK_PLATFORM)
    assert slack.payload["text"] == (
        "[prod] ERROR: CloudWatch alarm &lt;!channel&gt; &lt;!here&gt; &lt;@U024BE7LH&gt; disk &amp; co is in ALARM"
    )
    assert slack_refusal(json.dumps(slack.payload).encode()) is None


def test_slack_truncation_never_splits_an_escape() -> None:
    text = render.slack_text("&" * 5000, 3000)
    assert len(text) <= 3000
    assert text.split("...", 1)[0].endswith("&amp;")


def test_teams_cards_stay_under_28_kb_in_bytes_as_sent(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    """Teams measures the bytes it receives: 8000 emoji of details used to be sent \\u-escaped
    (12 bytes each), and a 300-character title was never shortened."""
    huge = contract_alert(
        team="data-eng",
        title="漢" * 300,
        details="😀" * 8000,
        links=[{"label": "x" * 200, "url": "https://x.example/" + "é" * 1900}] * 20,
        job="é" * 512,
        deployment="😀" * 512,
    )

    assert invoke(relay_handler, queued(json.dumps(huge))) == {"batchItemFailures": []}

    (teams,) = webhook_server.received(TEAMS_DATA_ENG)
    sent = render.encode_json(teams.payload)
    assert len(sent) <= TEAMS_PAYLOAD_LIMIT_BYTES
    assert int(teams.headers["Content-Length"]) == len(sent)  # measured as sent
    card = teams.payload["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("[prod] ERROR: 漢漢")
    assert any("Shortened to fit" in block.get("text", "") for block in card["body"])
    (email,) = emails_to(DATA_ENG_EMAIL)
    assert "😀" * 7000 in body_text(email)  # email keeps all of it


def test_every_alert_kind_fits_teams() -> None:
    for body in (
        cloudwatch_alarm_body(),
        sns_envelope(fixture("ses_bounce")),
        json.dumps(fixture("ecs_task_oom")),
        json.dumps(contract_alert(details="x" * 8000)),
        "😀" * 200_000,
    ):
        alert = route_alert(parse_message(body, received_at=now_iso()), ROUTES)
        assert len(render.encode_json(render.teams_message(alert))) <= TEAMS_PAYLOAD_LIMIT_BYTES
