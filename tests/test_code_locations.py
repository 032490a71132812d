"""Code locations: repositories, identities, and the Dagster files rendered for them."""

from __future__ import annotations

import json

import pytest
import yaml
from dagster._config import process_config
from dagster_aws.ecs.container_context import ECS_CONTAINER_CONTEXT_SCHEMA

from constructs_lib.agent.agent_config import referenced_env_vars
from constructs_lib.dagster_files import check_dagster_cloud_yaml, check_deployment_settings

ENVIRONMENTS = ["dev", "prod"]


def artifact(synthesized, environment, name):
    return (synthesized.outdir / "dagster" / environment / name).read_text()


def agent_environment(synthesized, environment) -> dict:
    [task] = synthesized.resources(environment, "platform", "AWS::ECS::TaskDefinition").values()
    [container] = task["Properties"]["ContainerDefinitions"]
    return {item["Name"]: item["Value"] for item in container["Environment"]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dagster_cloud_yaml_passes_dagster_cloud_clis_own_model(synthesized, environment):
    # Schemas: constructs_lib.dagster_files, run at synth (tests/test_synth_gate_dagster_files.py).
    assert check_dagster_cloud_yaml(artifact(synthesized, environment, "dagster_cloud.yaml")) == []
    document = yaml.safe_load(artifact(synthesized, environment, "dagster_cloud.yaml"))
    config = synthesized.stages[environment].config
    assert [location["location_name"] for location in document["locations"]] == sorted(config.code_locations)
    assert "&id" not in artifact(synthesized, environment, "dagster_cloud.yaml")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_container_context_passes_dagster_aws_ecs_schema_once_the_agent_resolves_it(
    synthesized, monkeypatch, environment
):
    document = yaml.safe_load(artifact(synthesized, environment, "dagster_cloud.yaml"))
    supplied = agent_environment(synthesized, environment)
    for location in document["locations"]:
        ecs = location["container_context"]["ecs"]
        assert referenced_env_vars(ecs) <= set(supplied), location["location_name"]
        for name in referenced_env_vars(ecs):
            monkeypatch.setenv(name, f"arn:aws:iam::123456789012:role/{name}")
        result = process_config(ECS_CONTAINER_CONTEXT_SCHEMA, ecs)
        assert result.success, (location["location_name"], result.errors)


def test_container_context_carries_each_locations_resources_tags_and_secrets(synthesized):
    document = yaml.safe_load(artifact(synthesized, "prod", "dagster_cloud.yaml"))
    by_name = {location["location_name"]: location for location in document["locations"]}
    forecasting = by_name["forecasting"]["container_context"]["ecs"]
    assert forecasting["run_resources"] == {"cpu": "4096", "memory": "30720", "ephemeral_storage": 100}
    assert forecasting["server_resources"] == {"cpu": "1024", "memory": "2048"}
    assert {"key": "alert_team", "value": "ml"} in forecasting["run_ecs_tags"]
    assert forecasting["secrets_tags"] == ["ml-models"]
    assert by_name["forecasting"]["agent_queue"] == "heavy"
    analytics = by_name["analytics"]["container_context"]["ecs"]
    # ECS reads a valueFrom that is not a Secrets Manager ARN as an SSM parameter name: always the ARN.
    assert analytics["secrets"] == [
        {"name": "WAREHOUSE_PASSWORD", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagster/prod/warehouse"}
    ]
    assert "DBT_TARGET=prod" in analytics["env_vars"]
    assert by_name["analytics"]["build"]["registry"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dagster/prod/analytics"


def test_agnostic_environment_leaves_the_registry_to_ci_and_says_so(synthesized):
    text = artifact(synthesized, "dev", "dagster_cloud.yaml")
    assert "build" not in yaml.safe_load(text)["locations"][0]
    assert "set it in CI" in text


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_repositories_scan_expire_and_follow_the_removal_policy(synthesized, environment):
    config = synthesized.stages[environment].config
    repositories = {
        r["Properties"]["RepositoryName"]: r for r in synthesized.resources(environment, "storage", "AWS::ECR::Repository").values()
    }
    assert set(repositories) == {f"dagster/{environment}/{name}" for name in config.code_locations}
    for name, settings in config.code_locations.items():
        repository = repositories[f"dagster/{environment}/{name}"]
        properties = repository["Properties"]
        assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert properties["ImageTagMutability"] == ("IMMUTABLE" if settings.immutable_tags else "MUTABLE")
        rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": settings.keep_images} in [
            rule["selection"] for rule in rules
        ]
        assert repository["DeletionPolicy"] == ("Retain" if config.retain_stateful_resources else "Delete")
        assert properties.get("EmptyOnDelete", False) is (not config.retain_stateful_resources)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_agent_may_pass_exactly_the_default_and_location_roles(synthesized, environment):
    policies = synthesized.resources(environment, "platform", "AWS::IAM::Policy")
    [agent_policy] = [p for i, p in policies.items() if i.startswith("AgentTaskRoleDefaultPolicy")]
    [statement] = [s for s in agent_policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "iam:PassRole"]
    passed = sorted(resource["Fn::GetAtt"][0] for resource in statement["Resource"])
    roles = synthesized.resources(environment, "platform", "AWS::IAM::Role")
    expected = sorted(i for i in roles if i.startswith(("Workload", "Location")))
    assert passed == expected
    locations = synthesized.stages[environment].config.code_locations
    assert len(expected) == 2 + 2 * len(locations)


def test_location_execution_role_pulls_only_its_repository_and_reads_only_its_secrets(synthesized):
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    [analytics] = [p for i, p in policies.items() if i.startswith("LocationanalyticsExecutionRoleDefaultPolicy")]
    statements = analytics["Properties"]["PolicyDocument"]["Statement"]
    pulls = [s for s in statements if "ecr:BatchGetImage" in s["Action"]]
    assert len(pulls) == 1 and "repository/dagster/prod/analytics" in json.dumps(pulls[0]["Resource"])
    [named] = [s for s in statements if s.get("Sid") == "ReadNamedSecrets"]
    assert named["Resource"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagster/prod/warehouse-??????"
    tagged = [s for s in statements if s.get("Sid", "").startswith("ReadSecretsTagged")]
    assert [s["Condition"] for s in tagged] == [{"StringEquals": {"aws:ResourceTag/dagster": "prod"}}]


PLATFORM_TASK_ROLE_GRANTS = {
    "PublishPlatformAlerts",
    "NeverReadPlatformSecrets",  # an explicit deny of the agent token
    "EncryptPlatformAlerts",
    "ComputeLogObjects",
    "ComputeLogList",
    "ComputeLogKey",  # prod encrypts compute logs with KMS
}


def test_location_task_roles_hold_only_the_platforms_grants_the_rest_is_the_users(synthesized):
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    statements = [
        statement
        for logical_id, policy in policies.items()
        if logical_id.startswith("LocationanalyticsTaskRole")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {s["Sid"] for s in statements} == PLATFORM_TASK_ROLE_GRANTS
    [publish] = [s for s in statements if s["Sid"] == "PublishPlatformAlerts"]
    assert publish["Action"] == "sqs:SendMessage"
    assert publish["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:dagster-platform-prod-alerts"
    [encrypt] = [s for s in statements if s["Sid"] == "EncryptPlatformAlerts"]
    assert encrypt["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/dagster-platform/prod/alerts"},
        "StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"},
    }
    assert "TaskRoleArnanalytics" in synthesized.template("prod", "platform")["Outputs"]


def test_default_workload_role_may_publish_alerts_like_declared_locations(synthesized):
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    sids = {
        statement.get("Sid")
        for logical_id, policy in policies.items()
        if logical_id.startswith("WorkloadTaskRole")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert {"PublishPlatformAlerts", "EncryptPlatformAlerts", "ComputeLogObjects"} <= sids


def test_the_alert_queue_url_reaches_code_locations_through_the_agent(synthesized):
    environment = agent_environment(synthesized, "prod")
    assert environment["DAGSTER_PLATFORM_ALERT_QUEUE_URL"] == {
        "Fn::Join": ["", ["https://sqs.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/123456789012/dagster-platform-prod-alerts"]]
    }
    launcher = yaml.safe_load(artifact(synthesized, "prod", "dagster.yaml"))["user_code_launcher"]["config"]
    assert "DAGSTER_PLATFORM_ALERT_QUEUE_URL" in launcher["env_vars"]
    names = [q["Properties"].get("QueueName") for q in synthesized.resources("prod", "observability", "AWS::SQS::Queue").values()]
    assert "dagster-platform-prod-alerts" in names


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_deployment_settings_match_config_and_dagsters_own_schema_for_these_keys(synthesized, environment):
    settings = yaml.safe_load(artifact(synthesized, environment, "deployment_settings.yaml"))
    config = synthesized.stages[environment].config.deployment_settings
    assert settings["run_retries"] == config.run_retries.model_dump()
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == config.concurrency.runs.max_concurrent_runs
    assert set(settings) == {"run_retries", "concurrency", "run_monitoring"}
    # Each section against Dagster's instance schema of that name: constructs_lib.dagster_files, at synth.
    assert check_deployment_settings(artifact(synthesized, environment, "deployment_settings.yaml")) == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_run_policy_carries_caps_teams_and_location_defaults(synthesized, environment):
    policy = json.loads(artifact(synthesized, environment, "run_policy.json"))
    config = synthesized.stages[environment].config
    assert policy["retries"]["max_run_retries"] == config.limits.max_run_retries <= 5
    assert policy["alert_teams"] == sorted(config.alerting.teams)
    assert policy["locations"]["forecasting"]["run"]["cpu"] == config.code_locations["forecasting"].run.cpu
    assert policy["deployment_settings"]["run_retries"]["max_retries"] == config.deployment_settings.run_retries.max_retries


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_rendered_run_policy_is_what_dagster_platform_loads_and_what_workloads_inherit(synthesized, environment):
    from dagster_platform.policy import load_policy

    path = synthesized.outdir / "dagster" / environment / "run_policy.json"
    policy = load_policy(path)
    config = synthesized.stages[environment].config
    assert policy.to_dict() == json.loads(path.read_text())
    assert sorted(policy.alert_teams) == sorted(config.alerting.teams)
    inherited = agent_environment(synthesized, environment)["DAGSTER_PLATFORM_RUN_POLICY_JSON"]
    assert json.loads(inherited) == json.loads(path.read_text())
    launcher = yaml.safe_load(artifact(synthesized, environment, "dagster.yaml"))["user_code_launcher"]["config"]
    assert {"DAGSTER_PLATFORM_RUN_POLICY_JSON", "DAGSTER_PLATFORM_UI_URL"} <= set(launcher["env_vars"])
