"""The whole alert path, across both sides, with the real pieces: a Dagster job fails, the
platform's run-failure sensor (ticked as the daemon would) publishes the contract message to the alert queue (moto SQS), the
relay Lambda's handler reads that message with the routes.json the CDK asset ships for dev, and the
team named by the job's ``alert_team`` tag receives the email (moto SES)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from dagster import Definitions, build_sensor_context, instance_for_test, job, op
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from dagster_platform import publish
from dagster_platform.sensors import platform_alert_sensors
from dagster_platform.tags import alert_route
from tests.support import relay_asset_dir

# The relay tests' own helpers: how the event source mapping builds events, a Lambda context, and
# loading a handler.py under its own module name with the Lambda's import root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent / "relay"))
from relay_payloads import REGION, FakeLambdaContext, sqs_event_from_received  # noqa: E402
from relay_support import RELAY_DIR, load_module  # noqa: E402

STATE_TABLE = "relay-state"


@op
def load_orders():
    raise RuntimeError("warehouse refused the connection")


@job(tags=alert_route("data-eng"))
def nightly_orders():
    load_orders()


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION, "DAGSTER_CLOUD_DEPLOYMENT_NAME": "dev", "DAGSTER_CLOUD_LOCATION_NAME": "analytics",
    }.items():
        monkeypatch.setenv(name, value)
    publish._cached_publisher.cache_clear()
    with mock_aws():
        yield
    publish._cached_publisher.cache_clear()


def test_a_failed_run_reaches_its_teams_inbox_through_sensor_queue_and_relay(synthesized, aws, monkeypatch):
    config = synthesized.stages["dev"].config
    routes_file = relay_asset_dir(synthesized, "dev") / "routes.json"
    sender = json.loads(routes_file.read_text())["email_sender"]
    boto3.client("sesv2").create_email_identity(EmailIdentity=sender)
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=STATE_TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = boto3.client("sqs").create_queue(QueueName="dagster-platform-dev-alerts")["QueueUrl"]
    monkeypatch.setenv("DAGSTER_PLATFORM_ALERT_QUEUE_URL", queue_url)

    sensors = {sensor.name: sensor for sensor in platform_alert_sensors()}
    repository = Definitions(jobs=[nightly_orders], sensors=list(sensors.values())).get_repository_def()
    failure_sensor = sensors["platform_alerts_run_failure"]

    def tick(instance, cursor):
        with build_sensor_context(instance=instance, repository_def=repository, cursor=cursor) as context:
            return failure_sensor.evaluate_tick(context).cursor

    with instance_for_test() as instance:
        cursor = tick(instance, None)  # the sensor starts after the newest failure
        result = nightly_orders.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        tick(instance, cursor)

    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert len(messages) == 1
    event = sqs_event_from_received(messages)

    monkeypatch.setenv("ROUTES_FILE", str(routes_file))
    monkeypatch.setenv("STATE_TABLE_NAME", STATE_TABLE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "dagster-alert-relay-dev")
    relay = load_module("alert_relay_handler", RELAY_DIR / "handler.py")
    from alert_relay_core import runtime

    runtime.relay_from_environment.cache_clear()
    try:
        response = relay.handler(event, FakeLambdaContext())
    finally:
        runtime.relay_from_environment.cache_clear()

    assert response == {"batchItemFailures": []}
    sent = list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)
    team_inbox = list(config.alerting.teams["data-eng"].email)
    [email] = [m for m in sent if m.destinations.get("ToAddresses") == team_inbox]
    assert "nightly_orders" in email.subject
    assert "warehouse refused the connection" in email.body
    assert result.run_id in email.body
    assert not [m for m in sent if m is not email], "only the tagged team is alerted"
