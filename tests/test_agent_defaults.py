"""DagsterAgent's minimal call: what it derives (VPC, subnets, public IP) and what it creates with secure defaults
(an EMPTY token secret, retained log groups, workload roles that never read the token), each overridable."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from constructs_lib import DagsterAgent, DagsterCluster, DagsterNetwork
from constructs_lib.config import (
    AgentSettings,
    ClusterSettings,
    DagsterCloudSettings,
    NetworkSettings,
    TokenSecretSettings,
)

DAGSTER = DagsterCloudSettings(organization="acme", deployments=("prod",))


def minimal(mode: str = "private", **agent_kwargs):
    stack = Stack(App(), "minimal")
    network = DagsterNetwork(stack, "Network", settings=NetworkSettings(mode=mode))
    cluster = DagsterCluster(stack, "Cluster", settings=ClusterSettings(), vpc=network.vpc, namespace_name="d.local")
    agent = DagsterAgent(
        stack, "Agent", environment_name="prod", dagster=DAGSTER, cluster=cluster,
        agent=AgentSettings(version="1.13.27", log_retention_days=14, **agent_kwargs),
    )
    return stack, network, agent


def service_network(template: Template) -> dict:
    (service,) = template.find_resources("AWS::ECS::Service").values()
    return service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]


@pytest.mark.parametrize(("mode", "public_ip"), [("private", "DISABLED"), ("public", "ENABLED")])
def test_subnets_and_public_ip_are_derived_from_the_clusters_vpc(mode, public_ip):
    stack, network, agent = minimal(mode)
    template = Template.from_stack(stack)
    configuration = service_network(template)
    assert configuration["AssignPublicIp"] == public_ip
    expected = [stack.resolve(subnet_id) for subnet_id in network.subnet_ids]
    assert configuration["Subnets"] == expected and len(agent.subnet_ids) == 2
    assert agent.assign_public_ip is (mode == "public")


def test_subnets_given_by_object_are_used_as_given_and_public_when_the_vpc_says_so():
    stack = Stack(App(), "objects")
    network = DagsterNetwork(stack, "Network", settings=NetworkSettings(mode="public"))
    cluster = DagsterCluster(stack, "Cluster", settings=ClusterSettings(), vpc=network.vpc, namespace_name="o.local")
    from aws_cdk import aws_ec2 as ec2

    agent = DagsterAgent(
        stack, "Agent", environment_name="prod", dagster=DAGSTER, cluster=cluster,
        agent=AgentSettings(version="1.13.27"), vpc_subnets=ec2.SubnetSelection(subnets=[network.vpc.public_subnets[1]]),
    )
    assert agent.assign_public_ip is True
    assert service_network(Template.from_stack(stack))["Subnets"] == [stack.resolve(network.vpc.public_subnets[1].subnet_id)]


def test_minimal_agent_creates_an_empty_retained_token_secret_and_reads_it_by_ecs():
    stack, _, agent = minimal()
    template = Template.from_stack(stack)
    (secret,) = template.find_resources("AWS::SecretsManager::Secret").values()
    assert secret["Properties"]["Name"] == "dagster/prod/agent-token"
    assert "GenerateSecretString" not in secret["Properties"] and "SecretString" not in secret["Properties"]
    assert secret["DeletionPolicy"] == "Retain"
    (task,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert [s["Name"] for s in container["Secrets"]] == ["DAGSTER_CLOUD_AGENT_TOKEN"]
    assert container["Secrets"][0]["ValueFrom"] == stack.resolve(agent.token_secret.secret_arn)


def test_json_field_of_the_settings_is_the_key_ecs_reads():
    stack, _, _ = minimal(token_secret=TokenSecretSettings(existing_secret_name="shared/agent", json_field="token"))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SecretsManager::Secret", 0)
    (task,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    value_from = task["Properties"]["ContainerDefinitions"][0]["Secrets"][0]["ValueFrom"]
    assert value_from["Fn::Join"][1][-1] == ":secret:shared/agent:token::"


def test_created_log_groups_keep_the_agents_retention_and_are_retained():
    stack, _, agent = minimal()
    groups = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 14}})
    assert len(groups) == 2 and all(g["DeletionPolicy"] == "Retain" for g in groups.values())
    assert agent.agent_log_group is not agent.workload_log_group


def test_created_workload_roles_read_tagged_secrets_of_this_environment_and_never_the_token():
    stack, _, agent = minimal()
    assert agent.workload is not None and agent.workload_task_role is agent.workload.task_role
    template = Template.from_stack(stack)
    token_arn = stack.resolve(agent.token_secret.secret_arn)
    denies = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
    ]
    assert len(denies) == 2 and all(
        json.dumps(token_arn) in json.dumps(statement["Resource"]) and "GetSecretValue" in str(statement["Action"])
        for statement in denies
    )
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Condition": {"StringEquals": {"aws:ResourceTag/dagster": "prod"}}}),
    ])}})


def test_given_resources_are_used_and_nothing_is_created_for_them():
    stack = Stack(App(), "given")
    network = DagsterNetwork(stack, "Network", settings=NetworkSettings(mode="public"))
    cluster = ecs.Cluster(stack, "Cluster", vpc=network.vpc)
    namespace = DagsterCluster(stack, "Ns", settings=ClusterSettings(), vpc=network.vpc, namespace_name="n.local").namespace
    group = logs.LogGroup(stack, "Shared")
    with pytest.raises(ValueError, match="give both workload_execution_role and workload_task_role, or neither"):
        DagsterAgent(stack, "Half", environment_name="prod", dagster=DAGSTER, agent=AgentSettings(version="1.13.27"),
                     cluster=cluster, namespace=namespace, workload_task_role=_role(stack))
    with pytest.raises(ValueError, match="with an ecs.ICluster, give namespace"):
        DagsterAgent(stack, "NoNs", environment_name="prod", dagster=DAGSTER, agent=AgentSettings(version="1.13.27"),
                     cluster=cluster)
    agent = DagsterAgent(
        stack, "Agent", environment_name="prod", dagster=DAGSTER, agent=AgentSettings(version="1.13.27"),
        cluster=cluster, namespace=namespace, agent_log_group=group, workload_log_group=group, assign_public_ip=False,
    )
    assert agent.agent_log_group is group and agent.assign_public_ip is False
    assert service_network(Template.from_stack(stack))["AssignPublicIp"] == "DISABLED"


def _role(stack: Stack):
    from aws_cdk import aws_iam as iam

    return iam.Role(stack, "LoneRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
