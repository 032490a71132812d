"""Stateful resources per environment, and an environment built on an existing VPC, cluster and secret."""

from __future__ import annotations

import json

import pytest
import yaml
from aws_cdk.assertions import Template

from tests.support import CONFIG_DIR, cfn_lint_problems, synthesize, write_config


def test_created_token_secret_is_empty_named_and_destroyed_with_dev(synthesized):
    [(logical_id, secret)] = synthesized.resources("dev", "storage", "AWS::SecretsManager::Secret").items()
    assert secret["Properties"]["Name"] == "dagster/dev/agent-token"
    assert "GenerateSecretString" not in secret["Properties"] and "SecretString" not in secret["Properties"]
    assert secret["DeletionPolicy"] == "Delete"


def test_prod_uses_the_existing_secret_and_creates_none(synthesized):
    assert synthesized.resources("prod", "storage", "AWS::SecretsManager::Secret") == {}


@pytest.mark.parametrize(("environment", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_log_groups_have_retention_and_removal_policy_from_config(synthesized, environment, policy):
    config = synthesized.stages[environment].config
    groups = synthesized.resources(environment, "storage", "AWS::Logs::LogGroup")
    by_name = {group["Properties"]["LogGroupName"]: group for group in groups.values()}
    expected_days = {
        f"/dagster-platform/{environment}/agent": config.agent.log_retention_days,
        f"/dagster-platform/{environment}/workloads": config.logging.workload_retention_days,
    }
    assert {name: by_name[name]["Properties"]["RetentionInDays"] for name in expected_days} == expected_days
    for name in expected_days:
        assert by_name[name]["DeletionPolicy"] == policy


def test_prod_log_groups_use_a_rotated_key_only_logs_may_use_for_these_groups(synthesized):
    [(key_id, key)] = [
        (i, k) for i, k in synthesized.resources("prod", "storage", "AWS::KMS::Key").items() if i.startswith("Logs")
    ]
    assert key["Properties"]["EnableKeyRotation"] is True
    [statement] = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchLogsForPlatformGroupsOnly"]
    assert statement["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    arns = json.dumps(statement["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    assert "/dagster-platform/prod/agent" in arns and "/dagster-platform/prod/workloads" in arns
    for group in synthesized.resources("prod", "storage", "AWS::Logs::LogGroup").values():
        if group["Properties"]["LogGroupName"].startswith("/dagster-platform/"):
            assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert not [i for i in synthesized.resources("dev", "storage", "AWS::KMS::Key") if i.startswith("Logs")]


EXISTING = """
account: "210987654321"
region: us-east-1
retain_stateful_resources: true
dagster: {organization: acme, deployments: [staging, qa]}
network:
  mode: existing
  vpc_id: vpc-0a1b2c3d4e5f60718
  subnet_ids: [subnet-0a1b2c3d4e5f60711, subnet-0a1b2c3d4e5f60722, subnet-0a1b2c3d4e5f60733]
  assign_public_ip: false
cluster: {existing_cluster_name: shared-data}
agent:
  version: 1.13.27
  token_secret:
    existing_secret_arn: arn:aws:secretsmanager:us-east-1:210987654321:secret:dagster/agent-AbCdEf
    json_field: token
alerting:
  default_team: platform
  teams:
    platform: {slack_webhook_secret: dagster/staging/slack-platform}
"""


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("config")
    write_config(config_dir, "staging", EXISTING)
    return synthesize(config_dir, tmp_path_factory.mktemp("cdk.out"))


def test_existing_network_and_cluster_are_used_not_created(existing):
    platform = Template.from_json(existing.template("staging", "platform"))
    for resource_type in ("AWS::EC2::VPC", "AWS::EC2::NatGateway", "AWS::ECS::Cluster"):
        platform.resource_count_is(resource_type, 0)
    [service] = existing.resources("staging", "platform", "AWS::ECS::Service").values()
    assert service["Properties"]["Cluster"] == "shared-data"
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60722", "subnet-0a1b2c3d4e5f60733"]
    assert network["AssignPublicIp"] == "DISABLED"
    [group] = [g for i, g in existing.resources("staging", "platform", "AWS::EC2::SecurityGroup").items()
               if i.startswith("AgentAgentSecurityGroup")]
    assert group["Properties"]["VpcId"] == "vpc-0a1b2c3d4e5f60718"


def test_existing_secret_json_field_is_read_by_ecs(existing):
    [task] = existing.resources("staging", "platform", "AWS::ECS::TaskDefinition").values()
    [container] = task["Properties"]["ContainerDefinitions"]
    [secret] = container["Secrets"]
    assert secret["ValueFrom"] == "arn:aws:secretsmanager:us-east-1:210987654321:secret:dagster/agent-AbCdEf:token::"
    assert existing.resources("staging", "storage", "AWS::SecretsManager::Secret") == {}


def test_existing_environment_renders_three_subnets_and_two_deployments(existing):
    document = yaml.safe_load((existing.outdir / "dagster" / "staging" / "dagster.yaml").read_text())
    assert len(document["user_code_launcher"]["config"]["subnets"]) == 3
    assert document["dagster_cloud_api"]["deployments"] == ["staging", "qa"]


def test_existing_environment_passes_cfn_lint(existing):
    assert cfn_lint_problems({stack: template for _, stack, template in existing.all_templates()}) == []


def test_agent_role_policy_mentions_the_existing_cluster_by_arn(existing):
    text = json.dumps(existing.resources("staging", "platform", "AWS::IAM::Policy"))
    assert "cluster/shared-data" in text


def test_without_account_in_the_file_the_cdk_cli_defaults_apply_and_without_both_none(monkeypatch):
    from constructs_lib.config import load_environment
    from stacks.stage import stage_environment

    dev = load_environment(CONFIG_DIR / "dev.yaml")
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    assert stage_environment(dev) is None
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111122223333")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-west-2")
    env = stage_environment(dev)
    assert (env.account, env.region) == ("111122223333", "us-west-2")
    prod = load_environment(CONFIG_DIR / "prod.yaml")
    env = stage_environment(prod)
    assert (env.account, env.region) == ("123456789012", "eu-west-1"), "the file wins over CLI defaults"
