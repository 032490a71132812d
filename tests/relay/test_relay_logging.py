"""The relay's log lines, read as CloudWatch Logs Insights reads them: one JSON object per line.

The relay runs as Lambda starts it: a fresh interpreter whose environment is set before the first
import. (In one test process, Powertools configures a service's logger once, for whichever
handler module created it first, so only a fresh interpreter shows the relay's own settings.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from relay_payloads import REGION, FakeLambdaContext, cloudwatch_alarm_body, queued, sqs_event
from relay_support import RELAY_DIR, REPO_ROOT, STATE_TABLE, routes_document

LAMBDA_CONTAINER = """
import json, sys
import boto3
from moto import mock_aws
from relay_payloads import FakeLambdaContext
from relay_support import SENDER, STATE_TABLE

request = json.load(sys.stdin)
with mock_aws():
    boto3.client("dynamodb").create_table(
        TableName=STATE_TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    import handler

    response = handler.handler(request["event"], FakeLambdaContext())
    for message in request["messages"]:
        handler.logger.info(message)
    sys.stderr.write(json.dumps(response))
"""

MESSAGE_ID = "5f0c2a9e-1b7d-4c3e-9a8f-0d6e5b4c3a21"
# What the relay logs (after the record) for each message text.
MESSAGES = [
    ('{"phase": "delivery", "attempt": 2}', {"phase": "delivery", "attempt": 2}),  # a JSON document: structure
    ('["email", "slack"]', ["email", "slack"]),
    ("alert delivered, by hand", "alert delivered, by hand"),
    ("{not JSON", "{not JSON"),  # looks like JSON, is not: kept as text
    ("42", "42"),  # a sentence that happens to be a JSON number stays text
    ("", ""),
]


@pytest.fixture(scope="module")
def container_log(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every line the relay wrote while handling one alarm record, then logging ``MESSAGES``."""
    routes = routes_document()
    routes["teams"]["platform"]["slack_webhook_secret"] = None  # email only: no webhook server needed
    routes_file = tmp_path_factory.mktemp("relay") / "routes.json"
    routes_file.write_text(json.dumps(routes))
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))},
        "PYTHONPATH": os.pathsep.join([str(RELAY_DIR), str(REPO_ROOT), str(Path(__file__).parent)]),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "dagster-alert-relay-prod",
        "ROUTES_FILE": str(routes_file),
        "STATE_TABLE_NAME": STATE_TABLE,
    }
    request = {
        "event": sqs_event(queued(cloudwatch_alarm_body(), message_id=MESSAGE_ID, receive_count=3)),
        "messages": [message for message, _ in MESSAGES],
    }

    container = subprocess.run(
        [sys.executable, "-c", LAMBDA_CONTAINER],
        input=json.dumps(request),
        env=environment,
        cwd=RELAY_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert container.returncode == 0, container.stderr
    assert json.loads(container.stderr.splitlines()[-1]) == {"batchItemFailures": []}
    return [json.loads(line) for line in container.stdout.splitlines()]  # every line is one JSON object


def test_each_record_logs_its_outcome_with_its_sqs_message(container_log: list[dict[str, Any]]) -> None:
    (delivered,) = [line for line in container_log if line["message"] == "alert delivered"]
    assert delivered["level"] == "INFO"
    assert delivered["service"] == "dagster-alert-relay-prod"
    assert delivered["location"].startswith("_deliver_episode:")
    assert delivered["sqs_message_id"] == MESSAGE_ID
    assert delivered["receive_count"] == 3
    assert delivered["function_request_id"] == FakeLambdaContext().aws_request_id
    assert (delivered["team"], delivered["kind"], delivered["delivered_to"]) == (
        "platform",
        "alarm_state_change",
        ["email"],
    )


def test_messages_are_logged_as_text_unless_they_are_json_documents(container_log: list[dict[str, Any]]) -> None:
    logged = [line["message"] for line in container_log[-len(MESSAGES) :]]
    assert logged == [expected for _, expected in MESSAGES]
