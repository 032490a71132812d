"""What the platform stack's template must say about the agent, its network and its permissions."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from tests.authz.sar import resource_types

ENVIRONMENTS = ["dev", "prod"]


@pytest.fixture(scope="module")
def platform(synthesized):
    return {env: Template.from_json(synthesized.template(env, "platform")) for env in ENVIRONMENTS}


def agent_container(synthesized, environment):
    [task_definition] = synthesized.resources(environment, "platform", "AWS::ECS::TaskDefinition").values()
    [container] = task_definition["Properties"]["ContainerDefinitions"]
    return task_definition["Properties"], container


def agent_policy_statements(synthesized, environment):
    policies = synthesized.resources(environment, "platform", "AWS::IAM::Policy")
    [agent_policy] = [p for logical_id, p in policies.items() if logical_id.startswith("AgentTaskRoleDefaultPolicy")]
    return agent_policy["Properties"]["PolicyDocument"]["Statement"]


def test_service_deploys_100_0_by_default_so_two_agents_never_overlap(platform):
    platform["dev"].has_resource_properties(
        "AWS::ECS::Service",
        {
            "DesiredCount": 1,
            "LaunchType": "FARGATE",
            "DeploymentConfiguration": {
                "MaximumPercent": 100,
                "MinimumHealthyPercent": 0,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
        },
    )


def test_zero_downtime_deploys_use_200_100_and_the_readiness_sentinel(platform, synthesized):
    platform["prod"].has_resource_properties(
        "AWS::ECS::Service",
        {
            "DesiredCount": 2,
            "DeploymentConfiguration": {
                "MaximumPercent": 200,
                "MinimumHealthyPercent": 100,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "DISABLED"}},
        },
    )
    _, container = agent_container(synthesized, "prod")
    assert container["HealthCheck"] == {
        "Command": ["CMD-SHELL", "test -f /opt/finished_initial_reconciliation_sentinel.txt"],
        "Interval": 60,
        "StartPeriod": 300,
        "Retries": 10,
        "Timeout": 5,
    }
    assert "HealthCheck" not in agent_container(synthesized, "dev")[1]


@pytest.mark.parametrize(("environment", "cpu", "memory"), [("dev", "256", "512"), ("prod", "512", "1024")])
def test_agent_image_is_pinned_and_sized_from_config(synthesized, environment, cpu, memory):
    task, container = agent_container(synthesized, environment)
    assert container["Image"] == "dagster/dagster-cloud-agent:1.13.27"
    assert (task["Cpu"], task["Memory"]) == (cpu, memory)
    assert container["StopTimeout"] == 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["mode"] == "non-blocking"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_token_only_reaches_the_container_as_a_secrets_manager_reference(synthesized, environment):
    _, container = agent_container(synthesized, environment)
    [secret] = container["Secrets"]
    assert secret["Name"] == "DAGSTER_CLOUD_AGENT_TOKEN"
    assert ":secretsmanager:" in json.dumps(secret["ValueFrom"])
    assert all(item["Name"] != "DAGSTER_CLOUD_AGENT_TOKEN" for item in container["Environment"])
    for _, _, template in synthesized.all_templates():
        assert "Parameters" not in template or all(
            "token" not in name.lower() for name in template["Parameters"]
        )
        for output in template.get("Outputs", {}).values():
            assert "SecretString" not in json.dumps(output)


def test_agent_security_group_has_no_ingress_and_workloads_admit_only_the_agent(synthesized):
    groups = synthesized.resources("prod", "platform", "AWS::EC2::SecurityGroup")
    [agent_id] = [i for i in groups if i.startswith("AgentAgentSecurityGroup")]
    [workload_id] = [i for i in groups if i.startswith("AgentWorkloadSecurityGroup")]
    assert "SecurityGroupIngress" not in groups[agent_id]["Properties"]
    ingress = synthesized.resources("prod", "platform", "AWS::EC2::SecurityGroupIngress")
    assert [rule["Properties"] for rule in ingress.values()] == [
        {
            "Description": "Agent to code server gRPC",
            "FromPort": 4000,
            "GroupId": {"Fn::GetAtt": [workload_id, "GroupId"]},
            "IpProtocol": "tcp",
            "SourceSecurityGroupId": {"Fn::GetAtt": [agent_id, "GroupId"]},
            "ToPort": 4000,
        }
    ]


def test_cluster_has_container_insights_and_a_private_namespace(platform):
    platform["prod"].has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}
    )
    platform["prod"].has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace", {"Name": "dagster-prod.local"})


def test_public_network_has_no_nat_and_private_network_has_one_nat_per_az(platform):
    platform["dev"].resource_count_is("AWS::EC2::NatGateway", 0)
    platform["prod"].resource_count_is("AWS::EC2::NatGateway", 2)
    for template in platform.values():
        template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_pass_role_is_limited_to_the_workload_roles_and_to_ecs_tasks(synthesized, environment):
    [statement] = [s for s in agent_policy_statements(synthesized, environment) if s.get("Action") == "iam:PassRole"]
    roles = synthesized.resources(environment, "platform", "AWS::IAM::Role")
    passed = [r["Fn::GetAtt"][0] for r in statement["Resource"]]
    assert set(passed) <= set(roles) and "*" not in statement["Resource"]
    assert not [i for i in passed if i.startswith("Agent")], "the agent must not pass its own roles"
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_ecs_actions_that_accept_a_cluster_condition_are_bound_to_this_cluster(synthesized, environment):
    statements = agent_policy_statements(synthesized, environment)
    cluster_bound = [s for s in statements if "ecs:cluster" in json.dumps(s.get("Condition", {}))]
    actions = {a for s in cluster_bound for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert actions == {
        "ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeServices",
        "ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:ListServices", "ecs:ListTasks",
    }
    clusters = synthesized.resources(environment, "platform", "AWS::ECS::Cluster")
    [cluster_id] = clusters
    for statement in cluster_bound:
        assert statement["Condition"]["ArnEquals"]["ecs:cluster"] == {"Fn::GetAtt": [cluster_id, "Arn"]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_only_apis_without_resource_scope_get_a_bare_star(synthesized, environment):
    for statement in agent_policy_statements(synthesized, environment):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions)
        if "*" in resources and not statement.get("Condition"):
            # A bare "*" only where the Service Authorization Reference lists no resource type for the action.
            # GetOperation is checked against the operation's namespace or service, which the agent cannot name
            # in advance (it polls operations of services it just created); Cloud Map documents "*" for it.
            assert all(not resource_types(action) for action in actions if action != "servicediscovery:GetOperation"), actions
    for logical_id, role_policy in synthesized.resources(environment, "platform", "AWS::IAM::Policy").items():
        for statement in role_policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement.get("Action") != "*", logical_id
            assert not (statement.get("Action") == "iam:PassRole" and statement.get("Resource") == "*"), logical_id


def test_secrets_are_read_only_when_tagged_for_this_environment(synthesized):
    statements = agent_policy_statements(synthesized, "prod")
    # The agent finds tagged secrets with ListSecrets (no resource scope) and never reads or describes one.
    assert not [s for s in statements if str(s.get("Action", "")).startswith("secretsmanager:") and s.get("Action") != "secretsmanager:ListSecrets"]
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    [workload] = [p for i, p in policies.items() if i.startswith("WorkloadExecutionRoleDefaultPolicy")]
    [read] = [
        s for s in workload["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Action") == "secretsmanager:GetSecretValue" and s["Effect"] == "Allow"
    ]
    assert read["Condition"] == {"StringEquals": {"aws:ResourceTag/dagster": "prod"}}


def test_agent_execution_role_reads_only_the_token_secret(synthesized):
    policies = synthesized.resources("prod", "platform", "AWS::IAM::Policy")
    [execution] = [p for i, p in policies.items() if i.startswith("AgentExecutionRoleDefaultPolicy")]
    secret_reads = [
        s for s in execution["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
    ]
    assert len(secret_reads) == 1
    assert "secret:dagster/prod/agent-token-??????" in json.dumps(secret_reads[0]["Resource"])


def test_task_roles_trust_ecs_only_for_this_account(synthesized):
    for logical_id, role in synthesized.resources("prod", "platform", "AWS::IAM::Role").items():
        [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        if statement["Principal"].get("Service") != "ecs-tasks.amazonaws.com":
            continue
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}, logical_id


def test_reviewer_outputs(platform, synthesized):
    outputs = synthesized.template("prod", "platform")["Outputs"]
    assert {"ClusterName", "AgentServiceName", "ServiceDiscoveryNamespaceId", "WorkloadTaskRoleArn"} <= set(outputs)
    storage_outputs = synthesized.template("prod", "storage")["Outputs"]
    assert {"AgentTokenSecretArn", "AgentLogGroupName", "WorkloadLogGroupName"} <= set(storage_outputs)


def test_stateless_stack_imports_stateful_resources_by_name_not_by_export(synthesized):
    for environment in ENVIRONMENTS:
        platform_text = json.dumps(synthesized.template(environment, "platform"))
        assert "Fn::ImportValue" not in platform_text
        assert f"/dagster-platform/{environment}/workloads" in platform_text


def test_agent_may_only_speak_https_and_grpc_to_code_servers(synthesized):
    groups = synthesized.resources("prod", "platform", "AWS::EC2::SecurityGroup")
    [agent] = [g for i, g in groups.items() if i.startswith("AgentAgentSecurityGroup")]
    [https] = agent["Properties"]["SecurityGroupEgress"]
    assert (https["CidrIp"], https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("0.0.0.0/0", "tcp", 443, 443)
    egress = synthesized.resources("prod", "platform", "AWS::EC2::SecurityGroupEgress")
    [grpc] = [rule["Properties"] for rule in egress.values()]
    assert (grpc["FromPort"], grpc["ToPort"], grpc["Description"]) == (4000, 4000, "gRPC to code servers")
    assert grpc["DestinationSecurityGroupId"]["Fn::GetAtt"][0].startswith("AgentWorkloadSecurityGroup")
