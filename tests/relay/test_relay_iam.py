"""The relay's and the webhook's own AWS calls, recorded from the real handlers against moto and evaluated against
the prod templates' policies as IAM does: every call allowed for the role that makes it, and each role holds no
action its code never calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType

import boto3
import pytest
from relay_payloads import (
    REGION,
    FakeLambdaContext,
    cloudwatch_alarm_body,
    fixture,
    freshness_alert,
    queued,
    sqs_event,
    sqs_event_from_received,
)
from relay_support import WEBHOOK_SHARED_SECRET, WebhookServer

from tests.authz.launcher_calls import CallRecorder
from tests.authz.platform import Authorizer
from tests.authz.requests import AuthzRequest
from tests.authz.world import ACCOUNT, REGION as PROD_REGION, TemplateWorld


@pytest.fixture(scope="module")
def prod(synthesized) -> Authorizer:
    return Authorizer(TemplateWorld(synthesized.templates["prod"]))


def _resource(authorizer: Authorizer, resource_type: str, prefix: str):
    return next(r for r in authorizer.world.resources(resource_type) if r.logical_id.startswith(prefix))


def to_requests(authorizer: Authorizer, call) -> list[AuthzRequest]:
    """What IAM authorizes for each call, named by the prod templates' resources (moto's names differ)."""
    world = authorizer.world
    table = world.arn(_resource(authorizer, "AWS::DynamoDB::Table", "AlertsState"))
    key = world.arn(_resource(authorizer, "AWS::KMS::Key", "AlertsKey"))
    queue = world.arn(_resource(authorizer, "AWS::SQS::Queue", "AlertsQueue"))
    origin = f"{call.service}.{call.operation}"
    via = lambda service: {"kms:ViaService": f"{service}.{PROD_REGION}.amazonaws.com"}  # noqa: E731
    if call.service == "dynamodb" and call.operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"):
        # The table is encrypted with the alert key: DynamoDB decrypts its table key on the caller's behalf.
        return [AuthzRequest(f"dynamodb:{call.operation}", (table,), {}, origin), AuthzRequest("kms:Decrypt", (key,), via("dynamodb"), origin)]
    if call.service == "dynamodb" and call.operation == "TransactWriteItems":
        # No action of its own: IAM authorizes each item as its own action (Service Authorization Reference).
        actions = {f"dynamodb:{'ConditionCheckItem' if kind == 'ConditionCheck' else kind + 'Item'}"
                   for item in call.params["TransactItems"] for kind in item}
        return [AuthzRequest(action, (table,), {}, origin) for action in sorted(actions)] + [
            AuthzRequest("kms:Decrypt", (key,), via("dynamodb"), origin)
        ]
    if call.service == "secretsmanager" and call.operation == "GetSecretValue":
        secret_id = call.params["SecretId"]
        name = secret_id.split(":secret:", 1)[1].rsplit("-", 1)[0] if secret_id.startswith("arn:") else secret_id
        if name == "dagster/prod/dagster-plus-webhook":  # the test's name for the webhook's own secret
            arn = world.ref(_resource(authorizer, "AWS::SecretsManager::Secret", "AlertsWebhookSharedSecret"))
        else:
            arn = f"arn:aws:secretsmanager:{PROD_REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
        return [AuthzRequest("secretsmanager:GetSecretValue", (arn,), {}, origin)]
    if call.service == "sesv2" and call.operation == "SendEmail":
        identity = world.ref(_resource(authorizer, "AWS::SES::EmailIdentity", "AlertsEmail"))
        config_set = world.ref(_resource(authorizer, "AWS::SES::ConfigurationSet", "AlertsEmail"))
        context = {"ses:FromAddress": call.params["FromEmailAddress"]}
        resources = (
            f"arn:aws:ses:{PROD_REGION}:{ACCOUNT}:identity/{identity}",
            f"arn:aws:ses:{PROD_REGION}:{ACCOUNT}:configuration-set/{config_set}",
        )
        return [AuthzRequest("ses:SendEmail", resources, context, origin)]
    if call.service == "sqs" and call.operation in ("ChangeMessageVisibility", "SendMessage"):
        requests = [AuthzRequest(f"sqs:{call.operation}", (queue,), {}, origin)]
        if call.operation == "SendMessage":
            requests += [AuthzRequest(a, (key,), via("sqs"), origin) for a in ("kms:GenerateDataKey", "kms:Decrypt")]
        return requests
    if call.service == "ecs" and call.operation == "ListTagsForResource":
        # The stopped-task rule passes only tasks of the platform's cluster: the same task id there.
        task_id = call.params["resourceArn"].rsplit("/", 1)[1]
        cluster = world.ref(_resource(authorizer, "AWS::ECS::Cluster", "Cluster"))
        return [AuthzRequest("ecs:ListTagsForResource", (f"arn:aws:ecs:{PROD_REGION}:{ACCOUNT}:task/{cluster}/{task_id}",), {}, origin)]
    raise AssertionError(f"no IAM mapping for {call.service}.{call.operation}: add it here (a new call of the relay)")


def _evaluate(prod: Authorizer, role_prefix: str, calls) -> tuple[set[str], list[str]]:
    role = prod.role(role_prefix)
    used, denied = set(), []
    for call in calls:
        for request in to_requests(prod, call):
            used.add(request.action)
            decision = prod.check(role, request)
            if not decision:
                denied.append(f"{request.action} ({request.origin}): {decision.reason}")
    return used, denied


def _granted(prod: Authorizer, role_prefix: str) -> set[str]:
    return {
        action
        for policy in prod.role(role_prefix).policies
        for statement in policy.statements()
        if statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


#: Granted to the relay's role by the platform, but made by AWS, not by the relay's code.
RELAY_CALLS_MADE_BY_AWS = {
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",  # the event source mapping
    "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",  # Lambda
    "ses:SendRawEmail",  # granted with SendEmail; SES v2 SendEmail with raw content authorizes as SendRawEmail
}


def test_every_call_of_the_relay_is_allowed_and_it_holds_nothing_else(
    prod: Authorizer, relay_handler: ModuleType, webhook_server: WebhookServer, monkeypatch
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="dagster-prod-alerts", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for body in (cloudwatch_alarm_body(), json.dumps(fixture("ecs_task_oom")), json.dumps(fixture("dagster_run_failure"))):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    # Slack throttles for two minutes: the relay keeps that record invisible (ChangeMessageVisibility).
    webhook_server.respond("/slack/platform", status=429, headers={"Retry-After": "120"})
    recorder = CallRecorder()
    now = datetime.now(UTC)
    with recorder.installed(), recorder.during("relay"):
        relay_handler.handler(sqs_event_from_received(received), FakeLambdaContext())
        relay_handler.handler(sqs_event(queued(cloudwatch_alarm_body(), message_id="copy")), FakeLambdaContext())
        # An asset's freshness: within its SLA, then past it (the crossing is written in one transaction).
        for index, lateness in enumerate((0, 7200)):
            at = (now - timedelta(minutes=2 - index)).isoformat()
            relay_handler.handler(sqs_event(queued(freshness_alert(lateness, at), message_id=f"fresh-{index}")), FakeLambdaContext())
    operations = {(c.service, c.operation) for c in recorder.calls}
    assert {("dynamodb", "UpdateItem"), ("dynamodb", "TransactWriteItems"), ("sesv2", "SendEmail"),
            ("secretsmanager", "GetSecretValue"), ("sqs", "ChangeMessageVisibility"),
            ("ecs", "ListTagsForResource")} <= operations, operations

    used, denied = _evaluate(prod, "AlertsRelayRole", recorder.calls)
    assert not denied, "\n".join(denied)
    unused = _granted(prod, "AlertsRelayRole") - used - RELAY_CALLS_MADE_BY_AWS
    assert unused == set(), f"the relay's role holds actions its code never calls: {sorted(unused)}"


def test_every_call_of_the_webhook_is_allowed_and_it_holds_nothing_else(prod: Authorizer, webhook_handler: ModuleType) -> None:
    recorder = CallRecorder()
    body = json.dumps(fixture("dagster_cloud_webhook"))
    event = {
        "requestContext": {"http": {"method": "POST"}},
        "headers": {"x-dagster-platform-secret": WEBHOOK_SHARED_SECRET, "content-type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
    }
    with recorder.installed(), recorder.during("webhook"):
        response = webhook_handler.handler(event, FakeLambdaContext())
    assert response["statusCode"] in (200, 202), response
    assert {(c.service, c.operation) for c in recorder.calls} == {("secretsmanager", "GetSecretValue"), ("sqs", "SendMessage")}
    used, denied = _evaluate(prod, "AlertsWebhookRole", recorder.calls)
    assert not denied, "\n".join(denied)
    made_by_aws = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    assert _granted(prod, "AlertsWebhookRole") - used - made_by_aws == set()
