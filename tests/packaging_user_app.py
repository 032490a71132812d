"""A user's own CDK app, run by tests/test_packaging.py with the Python of a venv where only the installed
``dagster-platform-aws`` wheel (and its declared dependencies) provide ``constructs_lib``: it uses every public
construct once and synthesizes. Usage: ``python -I packaging_user_app.py <environment.yaml> <outdir>``; prints a
JSON summary of what it built.
"""

import json
import sys

from aws_cdk import App, RemovalPolicy, Stack

import constructs_lib
from constructs_lib import (
    AgentTokenSecret,
    AlertPipeline,
    CodeLocationFiles,
    CodeLocationRepository,
    ComputeLogBucket,
    DagsterAgent,
    DagsterCluster,
    DagsterCodeLocation,
    DagsterNetwork,
    LogForwarding,
    PlatformHealth,
    PlatformLogGroups,
    WorkloadRoles,
)
from constructs_lib.code_locations import render_dagster_cloud_yaml, render_run_policy_json
from constructs_lib.config import load_environment
from constructs_lib.health import AgentTarget, RelayTarget

config = load_environment(sys.argv[1])
app = App(outdir=sys.argv[2])
stack = Stack(app, "user-platform")
removal = RemovalPolicy.DESTROY

log_groups = PlatformLogGroups(
    stack, "Logs", agent_log_group_name="/user/agent", workload_log_group_name="/user/workloads",
    agent_retention_days=7, workload_retention_days=7, encrypt_with_kms=False, removal_policy=removal,
)
token = AgentTokenSecret(
    stack, "Token", settings=config.agent.token_secret, secret_name="user/agent-token", removal_policy=removal
)
network = DagsterNetwork(stack, "Network", settings=config.network, removal_policy=removal)
cluster = DagsterCluster(stack, "Cluster", settings=config.cluster, vpc=network.vpc, namespace_name="user.local")
workload = WorkloadRoles(
    stack, "Workload", log_group=log_groups.workloads, secrets_tag=config.agent.secrets_tag,
    secrets_tag_value=config.name, denied_secret_arns=[token.secret.secret_arn],
)
agent = DagsterAgent(
    stack, "Agent", environment_name=config.name, dagster=config.dagster, agent=config.agent, cluster=cluster,
    vpc_subnets=network.subnets, token_secret=token.secret, agent_log_group=log_groups.agent,
    workload_log_group=log_groups.workloads, workload_execution_role=workload.execution_role,
    workload_task_role=workload.task_role,
)
for name, settings in sorted(config.code_locations.items()):
    repository = CodeLocationRepository(
        stack, f"Repository-{name}", environment_name=config.name, location_name=name, settings=settings,
        removal_policy=removal,
    )
    location = DagsterCodeLocation(
        stack, f"Location-{name}", environment_name=config.name, location_name=name, settings=settings,
        repository=repository.repository, workload_log_group=log_groups.workloads,
        shared_secrets_tag=config.agent.secrets_tag, denied_secret_arns=[token.secret.secret_arn],
    )
    agent.register_code_location(location)
ComputeLogBucket(
    stack, "ComputeLogs", settings=config.storage.compute_logs, environment_name=config.name, removal_policy=removal
)
alerts = AlertPipeline(
    stack, "Alerts", environment_name=config.name, settings=config.alerting,
    cluster_name=cluster.cluster.cluster_name, removal_policy=removal,
)
forwarding = LogForwarding(
    stack, "Forwarding", settings=config.logging.forwarding, environment_name=config.name,
    log_groups={"agent": log_groups.agent, "workloads": log_groups.workloads}, removal_policy=removal,
)
health = PlatformHealth(
    stack, "Health", environment_name=config.name, settings=config.health,
    agent=AgentTarget(
        cluster_name=cluster.cluster.cluster_name, service_name=agent.service.service_name,
        replicas=config.agent.replicas,
    ),
    relay=RelayTarget(function=alerts.relay, queue=alerts.queue, dead_letter_queue=alerts.dead_letter_queue),
    alerts_topic=alerts.topic, backstop_emails=config.alerting.teams[config.alerting.default_team].email,
    key=alerts.topic_key, monitor_ses=config.alerting.email is not None, extra_alarms=forwarding.alarms,
    removal_policy=removal,
)
health.finish_dashboard()
CodeLocationFiles(
    stack, "CodeLocationFiles", environment_name=config.name,
    files={"dagster_cloud.yaml": render_dagster_cloud_yaml(config), "run_policy.json": render_run_policy_json(config)},
)

assembly = app.synth()
print(json.dumps({
    "constructs_lib": constructs_lib.__file__,
    "template": assembly.get_stack_by_name(stack.stack_name).template_full_path,
    "outdir": assembly.directory,
}))
