"""Over 2,000 malformed and hostile records through the REAL handler (``handler.handler`` with a
Lambda context, moto AWS, real HTTP webhooks that refuse what Slack and Teams refuse).

With every destination healthy: 0 crashes (the handler answers every batch), 0 records stuck
(no batch item failure, so nothing walks to the dead-letter queue), 0 lost (every record is
delivered, a duplicate of a delivered alert, or deliberately not an alert), 0 duplicates (each
destination received exactly one message per delivered alert identity)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from types import ModuleType
from typing import Any

import boto3
import pytest
from alert_relay_core.alerts import IgnoredMessage
from alert_relay_core.envelopes import parse_message
from alert_relay_core.relay import DELIVERED, DUPLICATE, IGNORED, NO_SLA_CROSSING, RecordOutcome
from alert_relay_core.state import state_key
from hostile_payloads import HAND_WRITTEN, hostile_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_payloads import ALERTS_QUEUE_ARN, REGION, FakeLambdaContext
from relay_support import (
    SLACK_PLATFORM,
    STATE_TABLE,
    TEAMS_DATA_ENG,
    WebhookServer,
    sent_emails,
    slack_refusal,
    teams_refusal,
)

BATCH_SIZE = 10
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "205"))  # batches of 10 plus copies of earlier records: well over 2,000 records


def sqs_event(records: list[tuple[str, dict[str, str], str]]) -> dict[str, Any]:
    now_ms = str(int(time.time() * 1000))
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now_ms, **attributes},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": ALERTS_QUEUE_ARN,
                "awsRegion": REGION,
            }
            for body, attributes, message_id in records
        ]
    }


def episodes_of(keys: set[str]) -> dict[str, dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 100):
        request = {
            STATE_TABLE: {"Keys": [{"pk": {"S": key}} for key in ordered[start : start + 100]], "ConsistentRead": True}
        }
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(STATE_TABLE, []):
                found[item["pk"]["S"]] = item
            request = answer.get("UnprocessedKeys") or {}
    return found


def episodes() -> dict[str, dict[str, Any]]:
    client = boto3.client("dynamodb", region_name=REGION)
    items: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=STATE_TABLE, ConsistentRead=True):
        for item in page["Items"]:
            if item["pk"]["S"].startswith("alert#"):
                items[item["pk"]["S"]] = item
    return items


@pytest.fixture
def recorded_outcomes(relay_handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> dict[str, RecordOutcome]:
    """What the real relay returned for each SQS message id (a pass-through, nothing replaced).

    Healthy destinations on a loaded test machine: the local webhook server gets 10 s to answer
    (the other tests use 0.5 s to make timeouts quick)."""
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "10")
    relay_handler.relay_from_environment.cache_clear()
    relay = relay_handler.relay_from_environment()
    real = relay.handle_message
    outcomes: dict[str, RecordOutcome] = {}

    def recording(body: str, *, message_id: str, **kwargs: Any) -> RecordOutcome:
        outcome = real(body, message_id=message_id, **kwargs)
        outcomes[message_id] = outcome
        return outcome

    monkeypatch.setattr(relay, "handle_message", recording)
    return outcomes


def test_hostile_records_are_never_lost_duplicated_or_stuck(
    relay_handler: ModuleType, webhook_server: WebhookServer, recorded_outcomes: dict[str, RecordOutcome]
) -> None:
    webhook_server.validators[SLACK_PLATFORM] = slack_refusal
    webhook_server.validators[TEAMS_DATA_ENG] = teams_refusal
    relay = relay_handler.relay_from_environment()
    seen: list[tuple[str, str]] = []
    totals: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(
        batch=st.lists(hostile_records, min_size=BATCH_SIZE, max_size=BATCH_SIZE),
        copies=st.lists(st.tuples(st.integers(min_value=0), st.booleans()), max_size=3),
    )
    def one_invocation(batch: list[tuple[str, dict[str, str]]], copies: list[tuple[int, bool]]) -> None:
        records = [(body, attributes, str(uuid.uuid4())) for body, attributes in batch]
        # Copies of earlier records: SNS delivering the alert again (a new SQS message id), or
        # SQS delivering the same message again (same id, a higher receive count).
        for pick, same_message in copies:
            if seen:
                body, message_id = seen[pick % len(seen)]
                copy_id = message_id if same_message else str(uuid.uuid4())
                records.append((body, {"ApproximateReceiveCount": "2"}, copy_id))

        response = relay_handler.handler(sqs_event(records), FakeLambdaContext())

        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        assert not failed, (
            "records failed although every destination is healthy: "
            f"{[(body[:400], attributes) for body, attributes, message_id in records if message_id in failed]} "
            f"{[repr(exc_info[1])[:600] for exc_info in relay_handler.processor.exceptions]}"
        )
        assert webhook_server.refused == [], "Slack or Teams would have refused a payload"
        current = episodes_of(
            {
                state_key("alert", recorded_outcomes[message_id].alert.dedup_key)
                for _, _, message_id in records
                if recorded_outcomes[message_id].alert is not None
            }
        )
        for body, _, message_id in records:
            outcome = recorded_outcomes[message_id]
            totals[outcome.status] += 1
            if outcome.status == IGNORED:
                assert isinstance(parse_message(body, received_at="2025-11-24T07:00:00+00:00"), IgnoredMessage)
            elif outcome.status == NO_SLA_CROSSING:
                assert outcome.alert is not None and outcome.alert.freshness is not None
            else:
                assert outcome.status in (DELIVERED, DUPLICATE)
                assert outcome.alert is not None
                episode = current.get(state_key("alert", outcome.alert.dedup_key))
                assert episode is not None and episode["done"] == {"BOOL": True}
                if outcome.status == DELIVERED:
                    # Every destination of its team has it (an earlier copy may have sent some).
                    team = relay.routes.team(outcome.alert.team)
                    wanted = {d.destination_id for d in relay._planner.for_alert(outcome.alert, team)}
                    assert wanted <= set(episode["delivered"]["SS"])
        seen.extend((body, message_id) for body, _, message_id in records)
        totals["records"] += len(records)

    one_invocation()

    delivered_to = Counter(
        destination for item in episodes().values() for destination in item.get("delivered", {}).get("SS", [])
    )
    # One message per destination per delivered alert identity: none sent twice, none missing.
    assert len(webhook_server.received(SLACK_PLATFORM)) == delivered_to["slack"]
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == delivered_to["teams"]
    assert len(sent_emails()) == delivered_to["email"]
    assert totals["records"] >= 2000
    assert totals[DUPLICATE] > 0 and totals[DELIVERED] > 0 and totals[IGNORED] + totals[NO_SLA_CROSSING] > 0
    print(f"\nhostile records: {dict(totals)}; deliveries by destination: {dict(delivered_to)}")


def test_every_hand_written_payload_is_delivered_once(
    relay_handler: ModuleType, webhook_server: WebhookServer, recorded_outcomes: dict[str, RecordOutcome]
) -> None:
    webhook_server.validators[SLACK_PLATFORM] = slack_refusal
    webhook_server.validators[TEAMS_DATA_ENG] = teams_refusal
    records = [(body, {}, str(uuid.uuid4())) for body in HAND_WRITTEN]

    assert relay_handler.handler(sqs_event(records), FakeLambdaContext()) == {"batchItemFailures": []}
    assert relay_handler.handler(sqs_event(records), FakeLambdaContext()) == {"batchItemFailures": []}  # retried

    assert webhook_server.refused == []
    statuses = Counter(recorded_outcomes[message_id].status for _, _, message_id in records)
    assert statuses[DUPLICATE] == len(records) - statuses[NO_SLA_CROSSING]
    delivered_to = Counter(d for item in episodes().values() for d in item.get("delivered", {}).get("SS", []))
    assert len(webhook_server.received(SLACK_PLATFORM)) == delivered_to["slack"]
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == delivered_to["teams"]
    assert len(sent_emails()) == delivered_to["email"]
