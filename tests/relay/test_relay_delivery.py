"""End to end through the relay handler: moto SES/DynamoDB/Secrets Manager/SQS/SNS and real
HTTP webhook servers on 127.0.0.1."""

from __future__ import annotations

import json
from types import ModuleType

import boto3
import pytest
from alert_relay_core.runtime import build_relay
from alert_relay_core.settings import RelaySettings
from relay_payloads import (
    REGION,
    FakeLambdaContext,
    cloudwatch_alarm_body,
    contract_alert,
    failed_ids,
    fixture,
    invoke,
    queued,
    sns_envelope,
    sqs_event_from_received,
)
from relay_support import (
    DATA_ENG_EMAIL,
    PLATFORM_EMAIL,
    SENDER,
    SLACK_PLATFORM,
    TEAMS_DATA_ENG,
    WEBHOOK_SHARED_SECRET,
    WebhookServer,
    alerts_topic_into_queue,
    body_text,
    emails_to,
    sent_emails,
)

# Each envelope type, the team it must reach, and text the message must carry.
ROUTED_ENVELOPES = [
    pytest.param(
        cloudwatch_alarm_body,
        "platform",
        "CloudWatch alarm dagster-prod-agent-running-tasks is in ALARM",
        id="cloudwatch-alarm-via-sns",
    ),
    pytest.param(
        lambda: sns_envelope(fixture("ses_bounce"), subject=None),
        "platform",
        "former-analyst@example.com",
        id="ses-bounce-via-sns",
    ),
    pytest.param(
        lambda: sns_envelope(fixture("ses_complaint")),
        "platform",
        "SES complaint about mail from dagster-alerts@example.com",
        id="ses-complaint-via-sns",
    ),
    pytest.param(lambda: json.dumps(fixture("ecs_task_oom")), "platform", "ecs/memory", id="ecs-task-oom"),
    pytest.param(
        lambda: json.dumps(fixture("ecs_task_nonzero_exit")), "platform", "exit code 1", id="ecs-task-nonzero-exit"
    ),
    pytest.param(
        lambda: json.dumps(contract_alert()),
        "data-eng",
        "Run of daily_orders failed",
        id="dagster-contract-run-failure",
    ),
    pytest.param(
        lambda: json.dumps(fixture("dagster_cloud_webhook")),
        "data-eng",
        "Job daily_orders failed in prod",
        id="dagster-cloud-webhook",
    ),
    pytest.param(
        lambda: sns_envelope(
            "Nightly backup of the Dagster+ agent config finished with warnings.", subject="Backup warnings"
        ),
        "platform",
        "Nightly backup of the Dagster+ agent config finished with warnings.",
        id="plain-sns-text",
    ),
]


@pytest.mark.parametrize(("make_body", "team", "expected_text"), ROUTED_ENVELOPES)
def test_each_envelope_reaches_its_team_by_email_and_chat(
    relay_handler: ModuleType, webhook_server: WebhookServer, make_body, team: str, expected_text: str
) -> None:
    response = invoke(relay_handler, queued(make_body()))

    assert response == {"batchItemFailures": []}
    team_email, other_email = (
        (PLATFORM_EMAIL, DATA_ENG_EMAIL) if team == "platform" else (DATA_ENG_EMAIL, PLATFORM_EMAIL)
    )
    chat_path, other_chat = (SLACK_PLATFORM, TEAMS_DATA_ENG) if team == "platform" else (TEAMS_DATA_ENG, SLACK_PLATFORM)
    emails = emails_to(team_email)
    assert len(emails) == 1
    assert emails[0].source == SENDER
    assert expected_text in body_text(emails[0])
    assert emails[0].subject.startswith("[prod] ")
    assert emails_to(other_email) == []
    chat = webhook_server.received(chat_path)
    assert len(chat) == 1
    assert expected_text in chat[0].text
    assert webhook_server.received(other_chat) == []
    if chat_path == SLACK_PLATFORM:
        assert chat[0].payload["text"].startswith("[prod] ")
        assert chat[0].payload["blocks"][0]["type"] == "header"
    else:
        card = chat[0].payload["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["type"] == "AdaptiveCard"


def test_oom_alert_tells_the_team_to_raise_the_memory_tag(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    invoke(relay_handler, queued(json.dumps(fixture("ecs_task_oom"))))

    (email,) = emails_to(PLATFORM_EMAIL)
    assert "ran out of memory" in email.subject
    assert "Raise the `ecs/memory` tag" in body_text(email)
    assert "2048 MiB" in body_text(email)
    (slack,) = webhook_server.received(SLACK_PLATFORM)
    assert "ecs/memory" in slack.text


def test_bounce_alert_is_not_mailed_to_the_bouncing_address(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    bounce = fixture("ses_bounce")
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = PLATFORM_EMAIL

    response = invoke(relay_handler, queued(sns_envelope(bounce)))

    assert response == {"batchItemFailures": []}
    assert sent_emails() == []  # the only platform address bounced: mailing it would loop
    (slack,) = webhook_server.received(SLACK_PLATFORM)
    assert PLATFORM_EMAIL in slack.text


def test_a_bounce_excludes_its_address_from_that_alert_only(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    """The relay plans a team's destinations once per container; an exclusion must not stick to the plan."""
    bounce = fixture("ses_bounce")
    bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] = PLATFORM_EMAIL

    for body in (
        cloudwatch_alarm_body(StateChangeTime="2025-11-24T06:40:12.345+0000"),
        sns_envelope(bounce),
        cloudwatch_alarm_body(StateChangeTime="2025-11-24T07:40:12.345+0000"),
    ):
        assert invoke(relay_handler, queued(body)) == {"batchItemFailures": []}

    # Both alarms mailed the team; the bounce in between was not mailed to the bouncing address.
    assert [message.subject for message in emails_to(PLATFORM_EMAIL)] == [
        "[prod] ERROR: CloudWatch alarm dagster-prod-agent-running-tasks is in ALARM"
    ] * 2
    assert len(webhook_server.received(SLACK_PLATFORM)) == 3


def test_unknown_team_goes_to_default_team_with_a_note(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    body = contract_alert(team="growth", tags={"alert_team": "growth"}, dedup_key="run_failure:unknown-team")

    assert invoke(relay_handler, queued(json.dumps(body))) == {"batchItemFailures": []}

    (email,) = emails_to(PLATFORM_EMAIL)
    assert "'growth', which is not configured" in body_text(email)
    (slack,) = webhook_server.received(SLACK_PLATFORM)
    assert "'growth', which is not configured" in slack.text


def test_failing_destination_fails_only_its_record_and_retry_skips_delivered_destinations(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    webhook_server.respond(TEAMS_DATA_ENG, status=500)
    to_data_eng = queued(json.dumps(contract_alert()))
    to_platform = queued(cloudwatch_alarm_body())
    plain = queued(sns_envelope("disk almost full", subject="disk"))

    response = invoke(relay_handler, to_data_eng, to_platform, plain)

    assert failed_ids(response) == {to_data_eng.message_id}
    assert len(emails_to(DATA_ENG_EMAIL)) == 1  # email worked before Teams failed
    assert len(emails_to(PLATFORM_EMAIL)) == 2
    assert len(webhook_server.received(SLACK_PLATFORM)) == 2

    webhook_server.respond(TEAMS_DATA_ENG, status=200)
    retry = queued(to_data_eng.body, message_id=to_data_eng.message_id, receive_count=2)
    assert invoke(relay_handler, retry) == {"batchItemFailures": []}

    assert len(emails_to(DATA_ENG_EMAIL)) == 1  # not sent again
    teams_posts = webhook_server.received(TEAMS_DATA_ENG)
    assert len(teams_posts) == 2  # the failed attempt and the successful retry
    assert "Run of daily_orders failed" in teams_posts[-1].text


def test_destination_timeout_is_a_batch_item_failure(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    webhook_server.respond(SLACK_PLATFORM, status=200, delay_seconds=1.5)  # HTTP_TIMEOUT_SECONDS is 0.5
    slow = queued(cloudwatch_alarm_body())
    fine = queued(json.dumps(contract_alert()))

    response = invoke(relay_handler, slow, fine)

    assert failed_ids(response) == {slow.message_id}
    assert len(emails_to(DATA_ENG_EMAIL)) == 1
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == 1


def test_failing_message_ends_in_the_dead_letter_queue(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    max_receive_count = 3
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="dagster-prod-alerts-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="dagster-prod-alerts",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    webhook_server.respond(SLACK_PLATFORM, status=500)
    sqs.send_message(QueueUrl=queue_url, MessageBody=cloudwatch_alarm_body())

    receives = 0
    for _ in range(max_receive_count + 2):
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not received:
            break
        receives += 1
        response = relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext())
        failed = failed_ids(response)
        assert failed == {message["MessageId"] for message in received}
        for message in received:  # what the event source mapping does with successes
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    assert receives == max_receive_count
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert len(dead) == 1
    assert "dagster-prod-agent-running-tasks" in dead[0]["Body"]
    assert len(webhook_server.received(SLACK_PLATFORM)) == max_receive_count
    assert len(emails_to(PLATFORM_EMAIL)) == 1  # email succeeded once and was never repeated


def test_alarm_published_through_real_sns_to_sqs_subscription(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    topic_arn, queue_url = alerts_topic_into_queue(raw_delivery=False)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    alarm = fixture("cloudwatch_alarm")
    alarm["NewStateValue"], alarm["OldStateValue"] = "OK", "ALARM"
    alarm["AlarmDescription"] += "\nalert_team=data-eng"
    sns.publish(TopicArn=topic_arn, Message=json.dumps(alarm), Subject="OK: dagster-prod-agent-running-tasks")

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    response = relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    (email,) = emails_to(DATA_ENG_EMAIL)
    assert email.subject.startswith("[prod] INFO: CloudWatch alarm dagster-prod-agent-running-tasks is OK again")
    (teams,) = webhook_server.received(TEAMS_DATA_ENG)
    assert "ALARM -> OK" in teams.text


def test_dagster_plus_webhook_to_relay_round_trip(
    relay_env: None, relay_handler: ModuleType, webhook_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    body = {
        "summary": "Sensor failed: orders_sensor",
        "alert_team": "data-eng",
        "id": "tick-123",
        "severity": "warning",
    }
    answer = webhook_handler.handler(
        {
            "version": "2.0",
            "headers": {"content-type": "application/json", "x-dagster-platform-secret": WEBHOOK_SHARED_SECRET},
            "body": json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"http": {"method": "POST", "path": "/"}},
        },
        FakeLambdaContext(function_name="dagster-prod-alert-webhook"),
    )
    assert answer["statusCode"] == 202

    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName="dagster-prod-alerts")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    response = relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    (email,) = emails_to(DATA_ENG_EMAIL)
    assert email.subject == "[prod] WARNING: Sensor failed: orders_sensor"
    (teams,) = webhook_server.received(TEAMS_DATA_ENG)
    assert "Dagster+ alert policy" in teams.text


def test_ecs_alert_team_tag_routes_the_task_alert(
    relay_env: None, relay_handler: ModuleType, webhook_server: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []

    def task_tags(task_arn: str) -> dict[str, str]:
        looked_up.append(task_arn)
        return {"alert_team": "data-eng", "dagster/run_id": "4f1a2b3c-run"}

    relay = build_relay(RelaySettings.from_environ(), task_tag_lookup=task_tags)
    monkeypatch.setattr(relay_handler, "relay_from_environment", lambda: relay)

    assert invoke(relay_handler, queued(json.dumps(fixture("ecs_task_oom")))) == {"batchItemFailures": []}

    assert looked_up == [fixture("ecs_task_oom")["detail"]["taskArn"]]
    (email,) = emails_to(DATA_ENG_EMAIL)
    assert "4f1a2b3c-run" in body_text(email)
    assert emails_to(PLATFORM_EMAIL) == []


def test_invalid_routes_file_fails_every_record_without_raising(
    relay_handler: ModuleType, routes_file, webhook_server: WebhookServer
) -> None:
    routes_file.write_text('{"schema_version": 1, "teams": {}}')
    first, second = queued(cloudwatch_alarm_body()), queued(json.dumps(contract_alert()))

    response = invoke(relay_handler, first, second)

    assert failed_ids(response) == {first.message_id, second.message_id}
    assert sent_emails() == []
    assert webhook_server.requests == []


def test_rotated_webhook_secret_is_used_on_retry(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    webhook_server.respond(SLACK_PLATFORM, status=404)  # the old webhook was revoked
    message = queued(cloudwatch_alarm_body())
    assert failed_ids(invoke(relay_handler, message)) == {message.message_id}

    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId="dagster/prod/slack-platform", SecretString=webhook_server.url("/slack/platform-rotated")
    )
    retry = queued(message.body, message_id=message.message_id, receive_count=2)
    assert invoke(relay_handler, retry) == {"batchItemFailures": []}

    (rotated,) = webhook_server.received("/slack/platform-rotated")
    assert "dagster-prod-agent-running-tasks" in rotated.text
    assert len(emails_to(PLATFORM_EMAIL)) == 1


def test_missing_webhook_secret_fails_the_record(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId="dagster/prod/teams-data-eng", ForceDeleteWithoutRecovery=True
    )
    message = queued(json.dumps(contract_alert()))

    assert failed_ids(invoke(relay_handler, message)) == {message.message_id}
    assert len(emails_to(DATA_ENG_EMAIL)) == 1  # the other destination still got it
