"""Property tests: whatever lands in the queue, the handler answers, and no record vanishes."""

from __future__ import annotations

import json
from types import ModuleType

from alert_relay_core.alerts import ParsedAlert, content_dedup_key
from alert_relay_core.envelopes import parse_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_payloads import (
    FakeLambdaContext,
    cloudwatch_alarm_body,
    contract_alert,
    failed_ids,
    fixture,
    queued,
    sns_envelope,
    sqs_event,
)
from relay_support import PLATFORM_EMAIL, SLACK_PLATFORM, WebhookServer, clear_state, emails_to, state_items

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)

VALID_BODIES = [
    cloudwatch_alarm_body(),
    sns_envelope(fixture("ses_bounce")),
    json.dumps(fixture("ecs_task_oom")),
    json.dumps(contract_alert()),
    json.dumps(fixture("dagster_cloud_webhook")),
]


@st.composite
def truncated_json(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from(VALID_BODIES))
    return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]


@st.composite
def wrong_types(draw: st.DrawFn) -> str:
    """Known envelopes with one field of the wrong type."""
    bad = draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.none(), st.booleans()))
    choice = draw(
        st.sampled_from(["sns_message", "contract_severity", "contract_links", "ecs_detail", "webhook_alarm"])
    )
    if choice == "sns_message":
        return json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": bad})
    if choice == "contract_severity":
        return json.dumps(contract_alert(severity=bad if bad is not None else 3))
    if choice == "contract_links":
        return json.dumps(contract_alert(links=[{"label": bad, "url": 5}]))
    if choice == "ecs_detail":
        event = fixture("ecs_task_oom")
        event["detail"] = bad
        return json.dumps(event)
    alarm = fixture("cloudwatch_alarm")
    alarm["NewStateValue"] = bad
    return sns_envelope(alarm)


random_text_bodies = st.binary(max_size=400).map(lambda raw: raw.decode("utf-8", errors="replace"))
huge_bodies = st.integers(min_value=0, max_value=25).map(lambda n: chr(ord("a") + n) * 300_000)

malformed_bodies = st.one_of(
    json_values.map(json.dumps),
    truncated_json(),
    wrong_types(),
    random_text_bodies,
    huge_bodies,
    st.text(max_size=200),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(bodies=st.lists(malformed_bodies, min_size=1, max_size=3, unique=True))
def test_handler_never_raises_and_every_record_is_delivered_or_failed(
    relay_handler: ModuleType, webhook_server: WebhookServer, bodies: list[str]
) -> None:
    clear_state()  # each example starts without dedup history
    emails_before = len(emails_to(PLATFORM_EMAIL))
    slack_before = len(webhook_server.received(SLACK_PLATFORM))
    messages = [queued(body) for body in bodies]

    response = relay_handler.handler(sqs_event(*messages), FakeLambdaContext())

    failed = failed_ids(response)
    assert failed <= {message.message_id for message in messages}
    episodes = {item["pk"]["S"]: item for item in state_items() if item["pk"]["S"].startswith("alert#")}
    new_slack = webhook_server.received(SLACK_PLATFORM)[slack_before:]
    new_emails = emails_to(PLATFORM_EMAIL)[emails_before:]
    succeeded = [message for message in messages if message.message_id not in failed]
    assert len(new_slack) == len(new_emails) == len(succeeded)
    for message in succeeded:
        # Delivered to both destinations of the default team, as an unreadable-message alert.
        episode = episodes[f"alert#{content_dedup_key('raw', message.body)}"]
        assert set(episode["delivered"]["SS"]) == {"email", "slack"}
        assert episode["done"] == {"BOOL": True}
    assert all("Unreadable message" in request.text for request in new_slack)
    assert all("cannot read" in email.subject for email in new_emails)


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(malformed_bodies, json_values.map(json.dumps)))
def test_parser_always_returns_an_alert(body: str) -> None:
    result = parse_message(body, received_at="2025-11-24T07:00:00+00:00")
    assert isinstance(result, ParsedAlert)
    assert result.source == "raw"
    assert len(result.details) <= 6000
    assert result.dedup_key == content_dedup_key("raw", body)


def test_deeply_nested_json_is_a_raw_alert() -> None:
    body = "[" * 100_000 + "]" * 100_000
    result = parse_message(body, received_at="2025-11-24T07:00:00+00:00")
    assert isinstance(result, ParsedAlert)
    assert result.source == "raw"
