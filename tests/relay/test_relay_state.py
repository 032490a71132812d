"""No spam, no loss: dedup window, per-destination delivery records and freshness SLA crossings."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pytest
from alert_relay_core.aws import AwsClients
from alert_relay_core.destinations import DestinationPlanner, HttpJsonPoster, SecretCache
from alert_relay_core.relay import DELIVERED, DUPLICATE, Relay
from alert_relay_core.routes import load_routes
from alert_relay_core.state import BREACH, MAX_KEY_BYTES, RECOVER, SlaEvaluation, StateStore, state_key
from relay_payloads import REGION, contract_alert, failed_ids, freshness_alert, invoke, queued, sns_envelope
from relay_support import (
    DATA_ENG_EMAIL,
    PLATFORM_EMAIL,
    SLACK_PLATFORM,
    STATE_TABLE,
    TEAMS_DATA_ENG,
    WebhookServer,
    body_text,
    emails_to,
    state_items,
)

T0 = datetime(2025, 11, 24, 6, 0, tzinfo=timezone.utc)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def relay_with_clock(routes_file: Path, clock: FakeClock) -> Relay:
    clients = AwsClients(REGION)
    routes = load_routes(routes_file)
    planner = DestinationPlanner(routes, clients, SecretCache(clients), HttpJsonPoster(0.5))
    return Relay(routes, planner, StateStore(STATE_TABLE, clients, clock=clock), task_tag_lookup=None, clock=clock)


def test_sla_evaluations_alert_only_on_crossings(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    lateness_sequence = [0, 60, 310, 400, 500, 100, 0, 320]  # platform threshold: 5 min = 300 s

    for minute, lateness in enumerate(lateness_sequence):
        response = invoke(relay_handler, queued(freshness_alert(lateness, at(minute))))
        assert response == {"batchItemFailures": []}

    slack_titles = [request.payload["text"] for request in webhook_server.received(SLACK_PLATFORM)]
    assert slack_titles == [
        "[prod] WARNING: Freshness SLA breached: analytics/orders is 5.2 min late (threshold 5.0 min)",
        "[prod] INFO: Freshness SLA recovered: analytics/orders is within 5.0 min again",
        "[prod] WARNING: Freshness SLA breached: analytics/orders is 5.3 min late (threshold 5.0 min)",
    ]
    assert [email.subject for email in emails_to(PLATFORM_EMAIL)] == slack_titles
    (sla_state,) = [item for item in state_items() if item["pk"]["S"] == "sla#prod#analytics/orders"]
    assert sla_state["breached"] == {"BOOL": True}
    assert float(sla_state["lateness_seconds"]["N"]) == 320.0
    assert sla_state["last_transition"] == {"S": BREACH}


@pytest.mark.parametrize(
    ("lateness", "stored"),
    # Negative and NaN lateness are not evaluations (delivered as raw alerts): nothing is stored for them.
    [(5e-324, 0.0), (1e-131, 0.0), (float("inf"), 1e15), (1e300, 1e15), (-1e-200, None), (float("nan"), None)],
)
def test_numbers_dynamodb_cannot_store_are_stored_rounded(relay_handler: ModuleType, lateness: float, stored) -> None:
    """DynamoDB refuses numbers below 1E-130 in magnitude (a ValidationException, every time): such an evaluation
    would go round until the dead-letter queue. Found by the hostile-records test (5e-324)."""
    response = invoke(relay_handler, queued(freshness_alert(lateness, at(0))))
    assert response == {"batchItemFailures": []}
    states = [item for item in state_items() if item["pk"]["S"] == "sla#prod#analytics/orders"]
    assert [float(state["lateness_seconds"]["N"]) for state in states] == ([] if stored is None else [stored])


def test_sla_state_is_per_asset_and_uses_the_teams_threshold(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    data_eng_asset = freshness_alert(600, at(0), asset_key="marts/revenue")
    data_eng_asset["tags"] = {"alert_team": "data-eng"}  # threshold 15 min: 10 min late is fine
    invoke(relay_handler, queued(data_eng_asset), queued(freshness_alert(600, at(0), asset_key="analytics/orders")))

    assert webhook_server.received(TEAMS_DATA_ENG) == []
    assert len(webhook_server.received(SLACK_PLATFORM)) == 1

    data_eng_asset.update(lateness_seconds=900, occurred_at=at(1))
    invoke(relay_handler, queued(data_eng_asset))
    (teams,) = webhook_server.received(TEAMS_DATA_ENG)
    assert "marts/revenue is 15.0 min late (threshold 15.0 min)" in teams.text


def test_out_of_order_evaluation_is_ignored(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    invoke(relay_handler, queued(freshness_alert(400, at(10))))
    invoke(relay_handler, queued(freshness_alert(0, at(5))))  # older than the breach: must not "recover"

    assert len(webhook_server.received(SLACK_PLATFORM)) == 1


def test_concurrent_evaluations_cannot_both_alert(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(STATE_TABLE, AwsClients(REGION))

    def evaluation(lateness: float, evaluated_at: float, message_id: str) -> SlaEvaluation:
        return SlaEvaluation("prod", "analytics/orders", lateness, 300.0, evaluated_at, message_id, "platform")

    assert store.evaluate_freshness(evaluation(0, 1000.0, "m0")).transition is None
    snapshot_before_breach = store._get("sla#prod#analytics/orders")

    assert store.evaluate_freshness(evaluation(400, 1060.0, "m1")).transition == BREACH

    # The second evaluator read the state before the first one wrote it.
    stale_reads = [snapshot_before_breach]
    real_get = store._get

    def stale_then_real(pk: str) -> dict | None:
        return stale_reads.pop() if pk.startswith("sla#") and stale_reads else real_get(pk)

    monkeypatch.setattr(store, "_get", stale_then_real)
    second = store.evaluate_freshness(evaluation(420, 1060.0, "m2"))

    assert second.transition is None
    assert stale_reads == []  # it did see the stale state, and its conditional write lost
    transitions = [item for item in state_items() if item["pk"]["S"].startswith("slatransition#")]
    assert [item["pk"]["S"] for item in transitions] == ["slatransition#m1"]


def test_retry_of_a_failed_sla_alert_still_delivers_it(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    webhook_server.respond(SLACK_PLATFORM, status=500)
    breach = queued(freshness_alert(400, at(0)))
    assert failed_ids(invoke(relay_handler, breach)) == {breach.message_id}

    webhook_server.respond(SLACK_PLATFORM, status=200)
    assert invoke(relay_handler, queued(freshness_alert(450, at(1)))) == {"batchItemFailures": []}  # still breached
    assert len(webhook_server.received(SLACK_PLATFORM)) == 1  # only the failed attempt

    retry = queued(breach.body, message_id=breach.message_id, receive_count=2)
    assert invoke(relay_handler, retry) == {"batchItemFailures": []}

    posts = webhook_server.received(SLACK_PLATFORM)
    assert len(posts) == 2
    assert "Freshness SLA breached: analytics/orders is 6.7 min late" in posts[-1].payload["text"]
    assert len(emails_to(PLATFORM_EMAIL)) == 1  # email went out on the first attempt, not again


def test_duplicates_within_the_window_are_delivered_once(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    body = json.dumps(contract_alert())

    first = invoke(relay_handler, queued(body), queued(body))
    later = invoke(relay_handler, queued(body))

    assert first == later == {"batchItemFailures": []}
    assert len(emails_to(DATA_ENG_EMAIL)) == 1
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == 1


def test_content_identity_is_suppressed_for_the_dedup_window_only(
    relay_env: None, routes_file: Path, webhook_server: WebhookServer
) -> None:
    """A message without an identity of its own (here an SNS message without MessageId) is the
    same event only while its window lasts: the same text an hour later is news."""
    clock = FakeClock()
    relay = relay_with_clock(routes_file, clock)
    envelope = json.loads(sns_envelope("Disk 91% full on bastion", subject="Disk usage"))
    del envelope["MessageId"]
    body = json.dumps(envelope)

    assert relay.handle_message(body, message_id="m1").status == DELIVERED
    clock.now += 899
    assert relay.handle_message(body, message_id="m2").status == DUPLICATE
    clock.now += 2  # past the 900 s window (the expired item may still exist: TTL deletion is lazy)
    assert relay.handle_message(body, message_id="m3").status == DELIVERED

    assert len(emails_to(PLATFORM_EMAIL)) == 2
    assert len(webhook_server.received(SLACK_PLATFORM)) == 2


def test_an_alert_with_its_own_identity_is_never_sent_twice(
    relay_env: None, routes_file: Path, webhook_server: WebhookServer
) -> None:
    """A run failure (identity: its run) is one event, whether its copy comes a minute or
    13 days later; after the 14 days of records it could be sent again."""
    clock = FakeClock()
    relay = relay_with_clock(routes_file, clock)
    body = json.dumps(contract_alert())

    assert relay.handle_message(body, message_id="m1").status == DELIVERED
    clock.now += 13 * 24 * 3600
    assert relay.handle_message(body, message_id="m2").status == DUPLICATE
    clock.now += 2 * 24 * 3600
    assert relay.handle_message(body, message_id="m3").status == DELIVERED

    assert len(emails_to(DATA_ENG_EMAIL)) == 2
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == 2


def test_a_copy_that_arrives_while_the_first_waits_for_its_retry_skips_destinations_that_accepted(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    webhook_server.respond(TEAMS_DATA_ENG, status=500)
    body = json.dumps(contract_alert())
    first = queued(body)
    assert failed_ids(invoke(relay_handler, first)) == {first.message_id}
    assert len(emails_to(DATA_ENG_EMAIL)) == 1  # email accepted it; Teams did not

    webhook_server.respond(TEAMS_DATA_ENG, status=200)
    copy = queued(body)  # e.g. SNS delivered the same alert again, as a new SQS message
    assert invoke(relay_handler, copy) == {"batchItemFailures": []}
    retry_of_first = queued(body, message_id=first.message_id, receive_count=2)
    assert invoke(relay_handler, retry_of_first) == {"batchItemFailures": []}

    assert len(emails_to(DATA_ENG_EMAIL)) == 1  # never twice to a destination that accepted
    assert len(webhook_server.received(TEAMS_DATA_ENG)) == 2  # the failed attempt, then the copy
    (episode,) = [item for item in state_items() if item["pk"]["S"].startswith("alert#")]
    assert set(episode["delivered"]["SS"]) == {"email", "teams"}
    assert episode["done"] == {"BOOL": True}
    assert set(episode["messages"]["SS"]) == {first.message_id, copy.message_id}
    assert "lease_owner" not in episode


def test_a_copy_arriving_while_another_delivers_is_acknowledged_without_sending(
    relay_env: None, routes_file: Path, webhook_server: WebhookServer
) -> None:
    clock = FakeClock()
    relay = relay_with_clock(routes_file, clock)
    store = StateStore(STATE_TABLE, AwsClients(REGION), clock=clock)
    body = json.dumps(contract_alert())
    identity = "dagster:run_failure:4f1a2b3c-5d6e-7f80-91a2-b3c4d5e6f708"
    holder = store.begin_delivery(identity, "m-holder", 900, "data-eng")  # another invocation, mid-delivery
    assert holder.status == "begun"

    outcome = relay.handle_message(body, message_id="m-copy")

    assert outcome.status == DUPLICATE
    assert "being delivered right now" in outcome.reason
    assert emails_to(DATA_ENG_EMAIL) == [] and webhook_server.requests == []
    # The holder's message fails and is retried: it continues the same episode.
    store.abandon_delivery(holder)
    assert relay.handle_message(body, message_id="m-holder").status == DELIVERED
    assert len(emails_to(DATA_ENG_EMAIL)) == 1


def test_state_item_shapes(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    message = queued(json.dumps(contract_alert()))
    before = int(time.time())
    invoke(relay_handler, message)

    items = {item["pk"]["S"]: item for item in state_items()}
    episode = items["alert#dagster:run_failure:4f1a2b3c-5d6e-7f80-91a2-b3c4d5e6f708"]
    assert episode["identity"] == {"S": "dagster:run_failure:4f1a2b3c-5d6e-7f80-91a2-b3c4d5e6f708"}
    assert episode["team"] == {"S": "data-eng"}
    assert episode["messages"] == {"SS": [message.message_id]}
    assert set(episode["delivered"]["SS"]) == {"email", "teams"}
    assert episode["done"] == {"BOOL": True}
    # A run's identity is its own: suppressed for as long as the record lives, not just 900 s.
    assert int(episode["window_ends_at"]["N"]) >= before + 14 * 24 * 3600
    assert int(episode["expires_at"]["N"]) >= before + 14 * 24 * 3600
    assert len(items) == 1


def test_producer_keys_of_any_size_or_encoding_make_valid_dynamodb_keys(
    relay_handler: ModuleType, webhook_server: WebhookServer
) -> None:
    """A 2 KB+ key or a lone surrogate used to fail every receive until the dead-letter queue."""
    bodies = [
        json.dumps(freshness_alert(400, at(0), asset_key="a/" + "\u00e9" * 500)),  # 1000+ bytes of asset key
        json.dumps(contract_alert(deployment="p" * 512, dedup_key="k" * 512)),
        '{"schema": "dagster-platform/alert@1", "kind": "run_failure", "severity": "error", "title": "bad \\ud83d",'
        ' "occurred_at": "2025-11-24T06:40:00+00:00", "dedup_key": "\\udc00\\ud800", "tags": {"alert_team": "platform"}}',
    ]
    messages = [queued(body) for body in bodies]
    freshness = json.loads(bodies[0])
    freshness["deployment"] = "d" * 512
    messages.append(queued(json.dumps(freshness)))

    assert invoke(relay_handler, *messages) == {"batchItemFailures": []}

    assert all(len(item["pk"]["S"].encode("utf-8")) <= 2048 for item in state_items())
    slack = webhook_server.received(SLACK_PLATFORM)
    assert any("bad \ufffd" in request.payload["text"] for request in slack)
    assert len(slack) == 3  # two SLA breaches and the alert with the lone surrogate


@pytest.mark.parametrize(
    ("part", "kept"),
    [
        ("a" * MAX_KEY_BYTES, True),
        ("a" * (MAX_KEY_BYTES + 1), False),
        ("\u00e9" * (MAX_KEY_BYTES // 2), True),  # two bytes each: exactly the limit
        ("\u00e9" * (MAX_KEY_BYTES // 2) + "a", False),  # 1024 characters, 1025 bytes
        ("ok \ud83d", False),  # a lone surrogate cannot be sent as UTF-8
    ],
)
def test_state_key_parts_are_kept_only_when_they_fit_as_utf8(part: str, kept: bool) -> None:
    key = state_key("alert", part)
    assert (key == f"alert#{part}") is kept
    if not kept:
        assert key.startswith("alert#sha256:") and len(key) == len("alert#sha256:") + 64
    assert len(key.encode("utf-8")) <= 2048


def test_recovery_alert_body_reports_the_lateness(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    invoke(relay_handler, queued(freshness_alert(360, at(0))))
    invoke(relay_handler, queued(freshness_alert(30, at(1))))

    breach_email, recover_email = emails_to(PLATFORM_EMAIL)
    assert "6.0 min late, at or above the team's SLA threshold of 5.0 min" in body_text(breach_email)
    assert "back within the SLA (lateness 0.5 min)" in body_text(recover_email)
    assert recover_email.subject == "[prod] INFO: Freshness SLA recovered: analytics/orders is within 5.0 min again"
    assert RECOVER in webhook_server.received(SLACK_PLATFORM)[-1].text


def test_unbounded_lateness_is_a_breach(relay_handler: ModuleType, webhook_server: WebhookServer) -> None:
    body = json.dumps(freshness_alert(float("inf"), at(0)))
    assert "Infinity" in body

    assert invoke(relay_handler, queued(body)) == {"batchItemFailures": []}

    (slack,) = webhook_server.received(SLACK_PLATFORM)
    assert "Freshness SLA breached: analytics/orders is inf min late" in slack.payload["text"]
