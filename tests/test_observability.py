"""The observability stack: the alert path, email, health alarms and the dashboard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from constructs_lib.alerting import render_routes
from tests.support import relay_asset_dir, resource_with_prefix

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ["dev", "prod"]


@pytest.fixture(scope="module")
def observability(synthesized):
    return {env: Template.from_json(synthesized.template(env, "observability")) for env in ENVIRONMENTS}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_queue_and_dead_letter_queue_are_encrypted_and_redrive_after_max_receive_count(synthesized, environment):
    config = synthesized.stages[environment].config
    queues = synthesized.resources(environment, "observability", "AWS::SQS::Queue")
    queue, dlq = resource_with_prefix(queues, "AlertsQueue"), resource_with_prefix(queues, "AlertsDeadLetters")
    assert queue["Properties"]["QueueName"] == f"dagster-platform-{environment}-alerts"
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == config.alerting.max_receive_count
    assert queue["Properties"]["VisibilityTimeout"] == 540
    assert queue["Properties"]["MaximumMessageSize"] == 1048576
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    for resource in (queue, dlq):
        assert "KmsMasterKeyId" in resource["Properties"]
    policies = synthesized.resources(environment, "observability", "AWS::SQS::QueuePolicy")
    assert any("aws:SecureTransport" in json.dumps(p) for p in policies.values())


def test_topic_feeds_the_queue_with_a_redrive_policy_and_its_own_key(observability, synthesized):
    observability["prod"].has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "sqs", "RedrivePolicy": {"deadLetterTargetArn": Match.any_value()}},
    )
    topics = synthesized.resources("prod", "observability", "AWS::SNS::Topic")
    topic = resource_with_prefix(topics, "AlertsTopic")
    assert topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("AlertsTopicKey")


def test_stopped_task_rule_watches_only_this_cluster_and_abnormal_stops(synthesized):
    rule = resource_with_prefix(synthesized.resources("prod", "observability", "AWS::Events::Rule"), "AlertsStoppedTasks")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["clusterArn"] == ["arn:aws:ecs:eu-west-1:123456789012:cluster/dagster-platform-prod"]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]
    assert {"stoppedReason": [{"prefix": "OutOfMemory"}]} in pattern["detail"]["$or"]
    [target] = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185


def test_state_table_has_ttl_pitr_and_a_customer_key(observability):
    observability["prod"].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_relay_reads_batches_with_partial_failures_and_uses_the_public_powertools_layer(synthesized, environment):
    template = synthesized.template(environment, "observability")
    functions = synthesized.resources(environment, "observability", "AWS::Lambda::Function")
    relay = resource_with_prefix(functions, "AlertsRelay")["Properties"]
    assert (relay["Runtime"], relay["Handler"], relay["Timeout"]) == ("python3.14", "handler.handler", 90)
    assert relay["TracingConfig"] == {"Mode": "Active"}
    assert set(relay["Environment"]["Variables"]) >= {"ROUTES_FILE", "STATE_TABLE_NAME", "POWERTOOLS_SERVICE_NAME"}
    [layer] = relay["Layers"]
    parameter = template["Parameters"][layer["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/aws/service/powertools/python/x86_64/python3.14/3.37.0"
    [mapping] = synthesized.resources(environment, "observability", "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == 5


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_relay_asset_ships_the_environments_routes_and_the_shared_contract(synthesized, environment):
    asset = relay_asset_dir(synthesized, environment)
    config = synthesized.stages[environment].config
    assert json.loads((asset / "routes.json").read_text()) == render_routes(environment, config.alerting)
    shipped = (asset / "dagster_platform" / "alert_contract.py").read_text()
    assert shipped == (ROOT / "dagster_platform" / "alert_contract.py").read_text()
    assert (asset / "handler.py").exists() and (asset / "alert_relay_core").is_dir()
    assert not list(asset.rglob("__pycache__"))
    sys.path.insert(0, str(asset))
    try:
        from alert_relay_core.routes import load_routes

        routes = load_routes(asset / "routes.json")
        assert routes.default_team == config.alerting.default_team
    finally:
        sys.path.remove(str(asset))


def test_relay_may_send_email_only_from_the_configured_sender(synthesized):
    policies = synthesized.resources("prod", "observability", "AWS::IAM::Policy")
    relay_policy = resource_with_prefix(policies, "AlertsRelayRoleDefaultPolicy")
    [send] = [s for s in relay_policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "SendOnlyFromTheAlertSender"]
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": "dagster-alerts@example.com"}}
    assert "identity/example.com" in json.dumps(send["Resource"])
    assert all("AWSLambdaBasicExecutionRole" not in json.dumps(r) for r in
               synthesized.resources("prod", "observability", "AWS::IAM::Role").values())


def test_domain_identity_publishes_dkim_records_and_reports_bounces_to_the_alert_topic(observability, synthesized):
    observability["prod"].has_resource_properties(
        "AWS::SES::EmailIdentity", {"EmailIdentity": "example.com", "DkimAttributes": Match.absent()}
    )
    records = synthesized.resources("prod", "observability", "AWS::Route53::RecordSet")
    assert len([r for r in records.values() if r["Properties"]["Type"] == "CNAME"]) == 3
    observability["prod"].has_resource_properties(
        "AWS::SES::ConfigurationSetEventDestination",
        {"EventDestination": Match.object_like({
            "MatchingEventTypes": Match.array_with(["bounce", "complaint"]),
            "SnsDestination": Match.any_value(),
        })},
    )
    observability["dev"].has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": "dagster-alerts-dev@example.com"})


def test_webhook_exists_only_where_enabled_and_checks_a_generated_secret(observability, synthesized):
    observability["prod"].has_resource_properties("AWS::Lambda::Url", {"AuthType": "NONE"})
    observability["dev"].resource_count_is("AWS::Lambda::Url", 0)
    secrets = synthesized.resources("prod", "observability", "AWS::SecretsManager::Secret")
    assert resource_with_prefix(secrets, "AlertsWebhookSharedSecret")["Properties"]["GenerateSecretString"]["PasswordLength"] == 48
    assert "DagsterCloudWebhookUrl" in synthesized.template("prod", "observability")["Outputs"]


def alarms(synthesized, environment) -> dict[str, dict]:
    return {
        logical_id: alarm["Properties"]
        for logical_id, alarm in synthesized.resources(environment, "observability", "AWS::CloudWatch::Alarm").items()
    }


def alarm_dimensions(alarm: dict) -> dict:
    """Dimensions of a single-metric alarm, in either of the two shapes CloudFormation accepts."""
    if "Dimensions" in alarm:
        return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    [query] = alarm["Metrics"]
    return {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_agent_alarm_fires_below_desired_replicas_and_treats_a_vanished_agent_as_down(synthesized, environment):
    config = synthesized.stages[environment].config
    alarm = resource_with_prefix(alarms(synthesized, environment), "HealthAgentBelowReplicas")
    assert alarm["Threshold"] == config.agent.replicas
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] == config.health.agent_missing_minutes
    assert alarm_dimensions(alarm) == {
        "ClusterName": f"dagster-platform-{environment}",
        "ServiceName": "dagster-agent",
    }


def test_every_alarm_routes_to_the_alert_topic_and_relay_alarms_also_to_the_backstop(synthesized):
    for logical_id, alarm in alarms(synthesized, "prod").items():
        targets = json.dumps(alarm["AlarmActions"])
        assert "AlertsTopic" in targets, logical_id
        assert alarm["OKActions"] == alarm["AlarmActions"], logical_id
        assert "alert_team=platform" in alarm["AlarmDescription"], logical_id
        if logical_id.startswith(("HealthRelay", "HealthDeadLetters", "HealthAlertsBacklog", "HealthSes")):
            assert "HealthBackstop" in targets, logical_id
    names = {i.split("Health", 1)[1].rstrip("0123456789ABCDEF") for i in alarms(synthesized, "prod") if i.startswith("Health")}
    assert {"AgentBelowReplicas", "AgentStoppingRepeatedly", "AgentCpuHigh", "AgentMemoryHigh", "RelayErrors",
            "RelayThrottles", "DeadLetters", "AlertsBacklog", "SesBounceRate", "SesComplaintRate"} <= names


def test_thresholds_come_from_config(synthesized):
    config = synthesized.stages["prod"].config.health
    found = alarms(synthesized, "prod")
    assert resource_with_prefix(found, "HealthAgentCpuHigh")["Threshold"] == config.agent_cpu_percent
    assert resource_with_prefix(found, "HealthAgentStoppingRepeatedly")["Threshold"] == config.agent_stopped_tasks_per_hour
    assert resource_with_prefix(found, "HealthSesBounceRate")["Threshold"] == pytest.approx(config.ses_bounce_rate_percent / 100)
    assert resource_with_prefix(found, "HealthDeadLetters")["Threshold"] == config.dlq_messages


def test_backstop_emails_the_default_team_directly(observability):
    observability["prod"].has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "platform-oncall@example.com"}
    )


def test_agent_stop_audit_rule_writes_through_a_native_resource_policy(observability, synthesized):
    observability["prod"].resource_count_is("AWS::Logs::ResourcePolicy", 1)
    functions = synthesized.resources("prod", "observability", "AWS::Lambda::Function")
    assert not [i for i in functions if not i.startswith("Alerts")], "no custom-resource Lambdas"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dashboard_covers_agent_workloads_relay_and_alarms(synthesized, environment):
    [dashboard] = synthesized.resources(environment, "observability", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("RunningTaskCount", "CPUUtilization", "TaskCount", "ApproximateNumberOfMessagesVisible",
                   "Invocations", "stats count(*) as alerts by team", "Platform alarms", "desired replicas",
                   "dagsterrun", "/dagster-platform/" + environment + "/workloads", "Log forwarding delivery"):
        assert needle in body, needle


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_alert_policies_route_platform_health_and_team_failures(synthesized, environment):
    text = (synthesized.outdir / "dagster" / environment / "alert_policies.yaml").read_text()
    policies = yaml.safe_load(text)["alert_policies"]
    config = synthesized.stages[environment].config
    by_events = {tuple(p["event_types"]): p for p in policies}
    platform_emails = list(config.alerting.teams["platform"].email)
    assert by_events[("AGENT_UNAVAILABLE",)]["notification_service"] == {"email": {"email_addresses": platform_emails}}
    assert by_events[("CODE_LOCATION_ERROR",)]["notification_service"]["email"]["email_addresses"] == platform_emails
    assert by_events[("TICK_FAILURE",)]["notification_service"]["email"]["email_addresses"] == platform_emails
    failures = [p for p in policies if p["event_types"] == ["JOB_FAILURE"]]
    assert config.alerting.job_failure_alerts == "relay"  # the examples: the relay's sensor alerts, not Dagster+
    assert failures == []
    for policy in policies:
        assert set(policy) <= {"name", "description", "enabled", "event_types", "alert_targets", "notification_service", "policy_options"}
        assert policy["enabled"] is True


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_platform_log_groups_are_forwarded_with_their_configured_filters(synthesized, environment):
    forwarding = synthesized.stages[environment].config.logging.forwarding
    filters = synthesized.resources(environment, "observability", "AWS::Logs::SubscriptionFilter").values()
    by_group = {f["Properties"]["LogGroupName"]: f["Properties"]["FilterPattern"] for f in filters}
    assert by_group == {
        f"/dagster-platform/{environment}/agent": forwarding.agent.filter_pattern,
        f"/dagster-platform/{environment}/workloads": forwarding.workloads.filter_pattern,
    }
    [stream] = synthesized.resources(environment, "observability", "AWS::KinesisFirehose::DeliveryStream").values()
    if forwarding.http_endpoint is None:
        assert stream["Properties"]["DeliveryStreamType"] == "DirectPut"
        assert "ExtendedS3DestinationConfiguration" in stream["Properties"]
    else:
        http = stream["Properties"]["HttpEndpointDestinationConfiguration"]
        assert http["EndpointConfiguration"]["Url"] == forwarding.http_endpoint.url
        assert http["S3BackupMode"] == "AllData"
        assert http["SecretsManagerConfiguration"]["Enabled"] is True
    firehose_alarms = [a for i, a in alarms(synthesized, environment).items() if i.startswith("Forwarding")]
    assert firehose_alarms and all("AlertsTopic" in json.dumps(a["AlarmActions"]) for a in firehose_alarms)


def test_compute_logs_reach_the_agent_config_and_every_task_role(synthesized):
    document = yaml.safe_load((synthesized.outdir / "dagster" / "prod" / "dagster.yaml").read_text())
    block = document["compute_logs"]
    assert (block["module"], block["class"]) == ("dagster_aws.s3.compute_log_manager", "S3ComputeLogManager")
    assert block["config"]["bucket"] == {"env": "DAGSTER_PLATFORM_COMPUTE_LOG_BUCKET"}
    assert block["config"]["upload_extra_args"] == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/dagster-platform/prod/compute-logs",
    }
    assert "DAGSTER_PLATFORM_COMPUTE_LOG_BUCKET" in document["user_code_launcher"]["config"]["env_vars"]
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    granted = {
        role["Ref"]
        for logical_id, policy in policies.items()
        if "ComputeLogAccess" in logical_id
        for role in policy["Properties"]["Roles"]
    }
    roles = synthesized.resources("prod", "platform", "AWS::IAM::Role")
    expected = {i for i in roles if i.startswith(("AgentTaskRole", "WorkloadTaskRole")) or
                (i.startswith("Location") and "TaskRole" in i)}
    assert granted == expected
