"""The Dagster+ webhook Lambda behind a Function URL (payload format 2.0), with moto."""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_payloads import REGION, FakeLambdaContext, sqs_event_from_received
from relay_support import DATA_ENG_EMAIL, WEBHOOK_SHARED_SECRET, WebhookServer, emails_to


def function_url_event(
    body: str | None,
    *,
    method: str = "POST",
    secret: str | None = WEBHOOK_SHARED_SECRET,
    base64_encoded: bool = False,
    **headers: str,
) -> dict[str, Any]:
    all_headers = {"content-type": "application/json", "user-agent": "Dagster-Cloud-Webhook", **headers}
    if secret is not None:
        all_headers["x-dagster-platform-secret"] = secret
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "anonymous",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Dagster-Cloud-Webhook",
            },
            "requestId": "id",
            "timeEpoch": 1763966400000,
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def call(webhook_handler: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = webhook_handler.handler(event, FakeLambdaContext(function_name="dagster-prod-alert-webhook"))
    return result["statusCode"], json.loads(result["body"])


def queued_messages() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName="dagster-prod-alerts")["QueueUrl"]
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])


def test_good_secret_enqueues_the_wrapped_body(webhook_handler: ModuleType) -> None:
    body = {"title": "Job daily_orders failed", "run_id": "r-1", "alert_team": "data-eng"}

    status, answer = call(webhook_handler, function_url_event(json.dumps(body)))

    assert (status, answer) == (202, {"message": "alert accepted"})
    (message,) = queued_messages()
    wrapper = json.loads(message["Body"])
    assert wrapper["source"] == "dagster_cloud_webhook"
    assert wrapper["body"] == body
    assert wrapper["received_at"].endswith("+00:00")


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", WEBHOOK_SHARED_SECRET + "x"])
def test_missing_or_wrong_secret_is_401(webhook_handler: ModuleType, secret: str | None) -> None:
    status, _ = call(webhook_handler, function_url_event('{"title": "x"}', secret=secret))

    assert status == 401
    assert queued_messages() == []


def test_header_name_is_case_insensitive(webhook_handler: ModuleType) -> None:
    event = function_url_event('{"title": "x"}', secret=None, **{"X-Dagster-Platform-Secret": WEBHOOK_SHARED_SECRET})
    assert call(webhook_handler, event)[0] == 202


def test_non_post_is_405(webhook_handler: ModuleType) -> None:
    status, answer = call(webhook_handler, function_url_event(None, method="GET"))
    assert status == 405
    assert "POST" in answer["message"]
    assert queued_messages() == []


def test_body_over_256_kb_is_413(webhook_handler: ModuleType) -> None:
    too_big = json.dumps({"details": "x" * (256 * 1024)})
    assert call(webhook_handler, function_url_event(too_big))[0] == 413
    encoded = base64.b64encode(b"y" * (256 * 1024 + 1)).decode()
    assert call(webhook_handler, function_url_event(encoded, base64_encoded=True))[0] == 413
    assert queued_messages() == []

    just_fits = json.dumps({"details": "x" * (256 * 1024 - 20)})
    assert call(webhook_handler, function_url_event(just_fits))[0] == 202
    assert len(queued_messages()) == 1


def test_base64_and_non_json_bodies_are_kept_verbatim(webhook_handler: ModuleType) -> None:
    text = "Run failed: daily_orders (plain text template)"
    encoded = base64.b64encode(text.encode()).decode()

    assert call(webhook_handler, function_url_event(encoded, base64_encoded=True))[0] == 202

    (message,) = queued_messages()
    assert json.loads(message["Body"])["body"] == text


def test_empty_body_and_invalid_base64_are_400(webhook_handler: ModuleType) -> None:
    assert call(webhook_handler, function_url_event(""))[0] == 400
    assert call(webhook_handler, function_url_event("%%%not-base64", base64_encoded=True))[0] == 400
    assert queued_messages() == []


def test_unreadable_secret_is_503_so_dagster_plus_retries(
    webhook_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
    webhook_handler.ingress_from_environment.cache_clear()

    assert call(webhook_handler, function_url_event('{"title": "x"}'))[0] == 503
    assert queued_messages() == []


def test_secret_is_cached_for_its_ttl(webhook_handler: ModuleType) -> None:
    calls: list[str] = []

    class CountingClient:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3 API
            calls.append(SecretId)
            return {"SecretString": WEBHOOK_SHARED_SECRET}

    now = [0.0]
    secret = webhook_handler.SharedSecret("arn:secret", CountingClient, ttl_seconds=60, clock=lambda: now[0])
    assert secret.matches(WEBHOOK_SHARED_SECRET)
    now[0] = 59
    assert not secret.matches("nope")
    assert len(calls) == 1
    now[0] = 61
    assert secret.matches(WEBHOOK_SHARED_SECRET)
    assert len(calls) == 2


def test_queue_message_is_ascii_so_sqs_accepts_any_body(webhook_handler: ModuleType) -> None:
    text = "Übersicht \x00 failed \ud83d"  # non-ASCII, a control character, a lone surrogate escape
    body = json.dumps({"title": text})

    assert call(webhook_handler, function_url_event(body))[0] == 202

    (message,) = queued_messages()
    assert message["Body"].isascii()
    assert json.loads(message["Body"])["body"] == {"title": text}


def test_deeply_nested_json_body_is_kept_as_text(webhook_handler: ModuleType) -> None:
    body = "[" * 50_000 + "]" * 50_000
    assert call(webhook_handler, function_url_event(body))[0] == 202
    (message,) = queued_messages()
    assert json.loads(message["Body"])["body"] == body


def test_body_larger_than_the_queue_accepts_is_413_not_a_retry_loop(
    webhook_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    small_queue = sqs.create_queue(QueueName="small-alerts", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    monkeypatch.setenv("ALERT_QUEUE_URL", small_queue)
    webhook_handler.ingress_from_environment.cache_clear()

    assert call(webhook_handler, function_url_event(json.dumps({"details": "x" * 2000})))[0] == 413
    assert call(webhook_handler, function_url_event(json.dumps({"details": "fits"})))[0] == 202


# --- replay and hostile requests ----------------------------------------------------------------


def relay_the_queue(relay_handler: ModuleType) -> dict[str, Any]:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName="dagster-prod-alerts")["QueueUrl"]
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    for message in received:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"summary": "Job daily_orders failed", "alert_id": "a-7f3e", "alert_team": "data-eng"}, id="alert-id"),
        pytest.param({"summary": "Job daily_orders failed", "alert_team": "data-eng"}, id="content-only"),
    ],
)
def test_a_replayed_request_is_accepted_but_not_delivered_again(
    relay_env: None,
    relay_handler: ModuleType,
    webhook_handler: ModuleType,
    webhook_server: WebhookServer,
    body: dict[str, str],
) -> None:
    """Dagster+ cannot sign its webhooks (static headers, templated body), so the intake cannot
    tell a replay from Dagster+'s own retry. Both are harmless: the relay delivers the alert's
    identity once per destination."""
    request = function_url_event(json.dumps(body))

    assert call(webhook_handler, request)[0] == 202
    assert relay_the_queue(relay_handler) == {"batchItemFailures": []}
    for _ in range(3):  # the same request, captured and sent again
        assert call(webhook_handler, request)[0] == 202
    assert relay_the_queue(relay_handler) == {"batchItemFailures": []}

    assert len(emails_to(DATA_ENG_EMAIL)) == 1
    assert len(webhook_server.received("/teams/data-eng")) == 1


methods = st.sampled_from(["POST", "GET", "PUT", "post", "", "\u0130", None, 7])
header_names = st.sampled_from(["x-dagster-platform-secret", "X-DAGSTER-PLATFORM-SECRET", "content-type", "x"])
header_values = st.one_of(
    st.just(WEBHOOK_SHARED_SECRET), st.text(max_size=40), st.just(WEBHOOK_SHARED_SECRET + "\udc80"), st.integers()
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda raw: base64.b64encode(raw).decode()),
    st.just("{" * 60_000),
    st.just("x" * (600 * 1024)),
    st.integers(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=methods,
    headers=st.one_of(st.dictionaries(header_names, header_values, max_size=3), st.none(), st.lists(st.text())),
    body=bodies,
    base64_encoded=st.one_of(st.booleans(), st.none(), st.text(max_size=3)),
    context=st.one_of(st.none(), st.just([]), st.just({"http": "POST"})),
)
def test_hostile_requests_get_an_answer_and_only_authorized_posts_are_queued(
    webhook_handler: ModuleType,
    method: Any,
    headers: Any,
    body: Any,
    base64_encoded: Any,
    context: Any,
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.get_queue_url(QueueName="dagster-prod-alerts")["QueueUrl"]
    event: dict[str, Any] = {
        "version": "2.0",
        "headers": headers,
        "body": body,
        "isBase64Encoded": base64_encoded,
        "requestContext": {"http": {"method": method}} if context is None else context,
    }

    result = webhook_handler.handler(event, FakeLambdaContext(function_name="dagster-prod-alert-webhook"))

    status = result["statusCode"]
    assert status in (202, 400, 401, 405, 413)
    assert json.loads(result["body"])["message"]
    authorized = isinstance(headers, dict) and any(
        name.lower() == "x-dagster-platform-secret" and value == WEBHOOK_SHARED_SECRET for name, value in headers.items()
    )
    queued = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in queued:  # the next example starts with an empty queue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    if status == 202:
        assert authorized and context is None and isinstance(method, str) and method.upper() == "POST"
        (message,) = queued
        wrapper = json.loads(message["Body"])
        assert wrapper["source"] == "dagster_cloud_webhook"
    else:
        assert queued == []
