"""Would AWS allow what the platform needs, and refuse what it must not do? Evaluated as IAM does.

Every wire in the synthesized templates (alarm actions, subscriptions, rule targets, dead-letter queues, SES event
destinations, log subscriptions, Firehose, task definitions and each code location's container context, encrypted
log groups, flow logs, access logs, Lambda pollers) becomes the authorizations AWS performs, evaluated against the
identity, resource, key and trust policies CloudFormation would create. Then the dangerous calls, one by one.
"""

from __future__ import annotations

import pytest

from tests.authz.iam import Policy, Principal, condition_holds, evaluate
from tests.authz.platform import Authorizer
from tests.authz.requests import AuthzRequest
from tests.authz.sar import resource_types, unusable_grants, unknown_actions
from tests.authz.wiring import Wiring
from tests.authz.world import ACCOUNT, REGION, TemplateWorld

ENVIRONMENTS = ["dev", "prod"]
OTHER_ACCOUNT = "210987654321"


@pytest.fixture(scope="module")
def worlds(synthesized) -> dict[str, tuple[Authorizer, Wiring, str]]:
    out = {}
    for env in ENVIRONMENTS:
        authorizer = Authorizer(TemplateWorld(synthesized.templates[env]))
        out[env] = (authorizer, Wiring(authorizer), synthesized.stages[env].artifacts["dagster_cloud.yaml"])
    return out


# -- the platform's own wiring: every call AWS services make for it is allowed ----------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_call_aws_makes_for_the_platform_is_allowed(worlds, env):
    authorizer, wiring, dagster_cloud_yaml = worlds[env]
    calls, _ = wiring.all(dagster_cloud_yaml)
    denied = [
        f"{call.who}: {call.request.action} ({call.request.origin}): {decision.reason}"
        for call in calls
        if not (decision := authorizer.check(call.principal, call.request))
    ]
    assert not denied, "\n".join(denied)
    origins = {call.request.origin.split(" ")[0] for call in calls}
    # The derivation covers every kind of wire the examples have (a regression in it would pass vacuously).
    expected = {"alarm", "rule", "firehose", "subscription", "task", "code", "flow"} | ({"log"} if env == "prod" else set())
    assert expected <= origins


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_role_is_assumable_by_exactly_its_service(worlds, env):
    authorizer, wiring, dagster_cloud_yaml = worlds[env]
    _, assumptions = wiring.all(dagster_cloud_yaml)
    assert assumptions
    for assumption in assumptions:
        assert authorizer.assume(assumption.service, assumption.role, assumption.context), assumption.origin
        # The same service acting for another account is refused (confused deputy), where the service sends the
        # source account; and no other service may assume the role.
        if "aws:SourceAccount" in assumption.context:
            other = {**assumption.context, "aws:SourceAccount": OTHER_ACCOUNT}
            if "aws:SourceArn" in other:
                other["aws:SourceArn"] = other["aws:SourceArn"].replace(ACCOUNT, OTHER_ACCOUNT)
            assert not authorizer.assume(assumption.service, assumption.role, other), assumption.origin
        assert not authorizer.assume("ec2.amazonaws.com", assumption.role, assumption.context), assumption.origin


def test_code_location_secrets_are_fetched_as_secrets_manager_arns(worlds):
    authorizer, wiring, dagster_cloud_yaml = worlds["prod"]
    fetches = [c for c in wiring.code_locations(dagster_cloud_yaml) if getattr(c, "request", None) and "secret" in c.request.origin]
    actions = {c.request.action for c in fetches}
    assert actions == {"secretsmanager:GetSecretValue"}, "a valueFrom ECS would read as an SSM parameter"
    warehouse = [c for c in fetches if "warehouse" in c.request.origin]
    assert warehouse and all(authorizer.check(c.principal, c.request) for c in warehouse)


# -- dangerous calls: each refused ------------------------------------------------------------------------------------


def _secret(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"


def dangerous_calls(authorizer: Authorizer) -> list[tuple[str, object, AuthzRequest]]:
    agent = authorizer.role("AgentTaskRole")
    workload_exec = authorizer.role("WorkloadExecutionRole")
    workload_task = authorizer.role("WorkloadTaskRole")
    analytics_task = authorizer.role("LocationanalyticsTaskRole")
    analytics_exec = authorizer.role("LocationanalyticsExecutionRole")
    forecasting_exec = authorizer.role("LocationforecastingExecutionRole")
    webhook = authorizer.role("AlertsWebhookRole")
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/dagster-platform-prod"
    other_cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/payments"
    bucket = f"arn:aws:s3:::dagster-prod-compute-logs-{ACCOUNT}-{REGION}"
    alert_queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dagster-platform-prod-alerts"
    alerts_topic = next(authorizer.world.ref(t) for t in authorizer.world.resources("AWS::SNS::Topic") if "AlertsTopic" in t.logical_id)
    token = _secret("dagster/prod/agent-token")
    tagged_prod = {"aws:ResourceTag/dagster": "prod"}
    events = Principal(service="events.amazonaws.com")
    cloudwatch = Principal(service="cloudwatch.amazonaws.com")
    return [
        ("agent passes a role the platform did not create", agent, AuthzRequest(
            "iam:PassRole", (f"arn:aws:iam::{ACCOUNT}:role/Admin",), {"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
        ("agent passes a platform role to Lambda", agent, AuthzRequest(
            "iam:PassRole", (workload_task.arn,), {"iam:PassedToService": "lambda.amazonaws.com"})),
        ("agent runs a task on another cluster", agent, AuthzRequest(
            "ecs:RunTask", (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/server_prod_x:1",), {"ecs:cluster": other_cluster})),
        ("agent stops a task of another cluster", agent, AuthzRequest(
            "ecs:StopTask", (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/payments/abc",), {"ecs:cluster": other_cluster})),
        ("agent deletes a service of another cluster", agent, AuthzRequest(
            "ecs:DeleteService", (f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/payments/api",), {"ecs:cluster": other_cluster})),
        ("agent reads a code location's secret value", agent, AuthzRequest(
            "secretsmanager:GetSecretValue", (_secret("dagster/prod/warehouse"),), tagged_prod)),
        ("agent describes a secret tagged for another environment", agent, AuthzRequest(
            "secretsmanager:DescribeSecret", (_secret("dagster/dev/x"),), {"aws:ResourceTag/dagster": "dev"})),
        ("workload execution role reads an untagged secret", workload_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (_secret("payments/db"),), {})),
        ("workload execution role reads a secret tagged for another environment", workload_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (_secret("dagster/dev/db"),), {"aws:ResourceTag/dagster": "dev"})),
        ("workload execution role reads a secret carrying only the tag key", workload_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (_secret("x/db"),), {"aws:ResourceTag/dagster": ""})),
        ("workload execution role reads the agent token, even tagged", workload_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (token,), tagged_prod)),
        ("workload task role reads the agent token", workload_task, AuthzRequest(
            "secretsmanager:GetSecretValue", (token,), tagged_prod)),
        ("a location's execution role reads the agent token, even tagged", analytics_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (token,), tagged_prod)),
        ("one location reads another location's named secret", forecasting_exec, AuthzRequest(
            "secretsmanager:GetSecretValue", (_secret("dagster/prod/warehouse"),), {})),
        ("a run pushes an image", analytics_task, AuthzRequest(
            "ecr:PutImage", (f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/dagster/prod/analytics",), {})),
        ("a run writes outside the compute-log prefix", analytics_task, AuthzRequest(
            "s3:PutObject", (f"{bucket}/other-location/data.parquet",), {})),
        ("a run deletes compute logs", analytics_task, AuthzRequest(
            "s3:DeleteObject", (f"{bucket}/compute-logs/run/step.out",), {})),
        ("a run passes a role", workload_task, AuthzRequest(
            "iam:PassRole", (agent.arn,), {"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
        ("the public webhook touches the relay's state", webhook, AuthzRequest(
            "dynamodb:PutItem", (f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/observability-AlertsState4756852B",), {})),
        ("an unrelated EventBridge rule sends to the alert queue", events, AuthzRequest(
            "sqs:SendMessage", (alert_queue,),
            {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/anything", "aws:SourceAccount": ACCOUNT})),
        ("the alert queue admits only SendMessage from rules", events, AuthzRequest(
            "sqs:GetQueueAttributes", (alert_queue,),
            {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/dagster-prod-stopped-tasks", "aws:SourceAccount": ACCOUNT})),
        ("another account's alarm publishes alerts", cloudwatch, AuthzRequest(
            "sns:Publish", (alerts_topic,),
            {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{OTHER_ACCOUNT}:alarm:dagster-prod-x", "aws:SourceAccount": OTHER_ACCOUNT})),
        ("an alarm that is not the platform's publishes alerts", cloudwatch, AuthzRequest(
            "sns:Publish", (alerts_topic,),
            {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:someone-else", "aws:SourceAccount": ACCOUNT})),
        ("alerts published without TLS", analytics_task, AuthzRequest(
            "sqs:SendMessage", (alert_queue,), {"aws:SecureTransport": "false"})),
    ]


def test_dangerous_calls_are_denied(worlds):
    authorizer = worlds["prod"][0]
    allowed = [
        f"{label}: {request.action} on {request.resources[0]} was allowed by {decision.matched}"
        for label, principal, request in dangerous_calls(authorizer)
        if (decision := authorizer.check(principal, request))
    ]
    assert not allowed, "\n".join(allowed)


def test_the_dangerous_calls_are_near_misses_of_allowed_ones(worlds):
    """Each refusal above is specific: the same principal's legitimate neighbour call is allowed."""
    authorizer = worlds["prod"][0]
    agent = authorizer.role("AgentTaskRole")
    workload_exec = authorizer.role("WorkloadExecutionRole")
    analytics_exec = authorizer.role("LocationanalyticsExecutionRole")
    analytics_task = authorizer.role("LocationanalyticsTaskRole")
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/dagster-platform-prod"
    bucket = f"arn:aws:s3:::dagster-prod-compute-logs-{ACCOUNT}-{REGION}"
    allowed = [
        (agent, AuthzRequest("iam:PassRole", (workload_exec.arn,), {"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
        (agent, AuthzRequest("ecs:StopTask", (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/dagster-platform-prod/abc",), {"ecs:cluster": cluster})),
        (agent, AuthzRequest("secretsmanager:ListSecrets", ("*",), {})),
        (workload_exec, AuthzRequest("secretsmanager:GetSecretValue", (_secret("dagster/prod/db"),), {"aws:ResourceTag/dagster": "prod"})),
        (analytics_exec, AuthzRequest("secretsmanager:GetSecretValue", (_secret("dagster/prod/warehouse"),), {})),
        (analytics_task, AuthzRequest("s3:PutObject", (f"{bucket}/compute-logs/run/step.out",), {})),
    ]
    for principal, request in allowed:
        assert authorizer.check(principal, request), request


# -- the policies themselves, against the Service Authorization Reference --------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_granted_action_exists(worlds, env):
    authorizer = worlds[env][0]
    assert unknown_actions(authorizer) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_grant_names_a_resource_the_action_is_never_checked_against(worlds, env):
    """An action without resource-level support is evaluated against "*": granting it on an ARN grants nothing
    (how servicediscovery:ListTagsForResource on service/* denied every agent restart)."""
    authorizer = worlds[env][0]
    assert unusable_grants(authorizer) == []


def test_sar_knows_the_actions_the_review_found():
    assert resource_types("servicediscovery:ListTagsForResource") == set()
    assert {"namespace", "service"} <= resource_types("servicediscovery:CreateService")


# -- the evaluator itself behaves as IAM documents ---------------------------------------------------------------------


def _allow(action, resource="*", condition=None, principal=None, effect="Allow"):
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    if principal:
        statement["Principal"] = principal
    return statement


def _decide(request, principal, identity=(), resource=()):
    return evaluate(
        request,
        principal,
        identity=[Policy("identity", "identity", {"Statement": list(identity)})] if identity else [],
        resource_policies={r: list(resource) for r in request.resources},
        account=ACCOUNT,
    )


ROLE = Principal(arn=f"arn:aws:iam::{ACCOUNT}:role/r")
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1"


def test_evaluator_explicit_deny_wins():
    request = AuthzRequest("s3:GetObject", ("arn:aws:s3:::b/k",))
    assert _decide(request, ROLE, [_allow("s3:*")])
    assert not _decide(request, ROLE, [_allow("s3:*"), _allow("s3:GetObject", "arn:aws:s3:::b/*", effect="Deny")])


def test_evaluator_kms_needs_the_key_policy():
    request = AuthzRequest("kms:Decrypt", (KEY,))
    identity = [_allow("kms:Decrypt")]
    no_delegation = Policy("key", "key", {"Statement": [_allow("kms:*", principal={"AWS": "arn:aws:iam::1:root"})]})
    delegation = Policy("key", "key", {"Statement": [_allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})]})
    assert not _decide(request, ROLE, identity, [no_delegation])
    assert _decide(request, ROLE, identity, [delegation])
    assert not _decide(request, ROLE, [], [delegation]), "delegation alone grants nothing"
    assert not _decide(request, Principal(service="sns.amazonaws.com"), [], [delegation]), "services are not the account"


def test_evaluator_conditions():
    assert condition_holds({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, {"aws:sourceaccount": ACCOUNT})
    assert not condition_holds({"StringEquals": {"k": "v"}}, {})
    assert condition_holds({"StringNotEquals": {"k": "v"}}, {}), "negated operators hold when the key is missing"
    assert condition_holds({"StringEqualsIfExists": {"k": "v"}}, {})
    assert condition_holds({"Null": {"k": "true"}}, {}) and not condition_holds({"Null": {"k": "false"}}, {})
    assert condition_holds({"ForAllValues:StringLike": {"aws:TagKeys": ["dagster/*"]}}, {"aws:TagKeys": ("dagster/a", "dagster/b")})
    assert not condition_holds({"ForAllValues:StringLike": {"aws:TagKeys": ["dagster/*"]}}, {"aws:TagKeys": ("dagster/a", "owner")})
    assert condition_holds({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/dagster-*"}}, {"aws:SourceArn": "arn:aws:events:eu-west-1:1:rule/dagster-x"})
    assert not condition_holds({"ArnLike": {"aws:SourceArn": "arn:aws:events:*:1:rule/dagster-*"}}, {"aws:SourceArn": "arn:aws:events:eu-west-1:2:rule/dagster-x"})


def test_evaluator_service_principals_need_a_resource_policy():
    request = AuthzRequest("sns:Publish", (f"arn:aws:sns:{REGION}:{ACCOUNT}:t",), {"aws:SourceArn": "arn:aws:cloudwatch:x"})
    topic_policy = Policy("t", "resource", {"Statement": [_allow("sns:Publish", principal={"Service": "cloudwatch.amazonaws.com"})]})
    assert _decide(request, Principal(service="cloudwatch.amazonaws.com"), [], [topic_policy])
    assert not _decide(request, Principal(service="events.amazonaws.com"), [], [topic_policy])
    assert not _decide(request, Principal(service="cloudwatch.amazonaws.com"), [], [])


def test_evaluator_requires_every_resource_of_a_multi_resource_action():
    request = AuthzRequest(
        "servicediscovery:CreateService",
        (f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-1", f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:service/srv-1"),
    )
    assert not _decide(request, ROLE, [_allow("servicediscovery:CreateService", f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:namespace/ns-1")])
    assert _decide(request, ROLE, [_allow("servicediscovery:CreateService", ["arn:aws:servicediscovery:*:*:namespace/ns-1", "arn:aws:servicediscovery:*:*:service/*"])])


def test_with_logging_kms_every_log_group_is_on_a_key_logs_may_use(worlds, synthesized):
    assert synthesized.stages["prod"].config.logging.kms
    authorizer, wiring, _ = worlds["prod"]
    assert wiring.unencrypted_log_groups() == []
    uses = list(wiring.encrypted_log_groups())
    assert {call.request.origin for call in uses} >= {
        f"log group {name} on its key"
        for name in (
            "/dagster-platform/prod/observability/Alerts/RelayLogs",
            "/dagster-platform/prod/observability/Alerts/WebhookLogs",
            "/dagster-platform/prod/platform/Network/FlowLogs",
        )
    }
    assert all(authorizer.check(call.principal, call.request) for call in uses)
    # CloudWatch Logs may not use a platform key for a log group outside the platform's names.
    key = uses[0].request.resources[0]
    stray = AuthzRequest("kms:GenerateDataKey", (key,), {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other/app"})
    assert not authorizer.check(uses[0].principal, stray)
