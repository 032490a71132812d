"""Stateless compute of one environment: network, cluster, the agent and its workload roles."""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Stack, Stage
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.agent import DagsterAgent
from constructs_lib.alerting.grants import alert_queue_url, grant_alert_publish
from constructs_lib.cluster import DagsterCluster
from constructs_lib.compute_logs import (
    ENV_COMPUTE_LOG_BUCKET,
    compute_log_bucket_name,
    compute_log_key_alias,
    grant_compute_log_access,
    render_compute_logs_block,
)
from constructs_lib.code_locations import (
    DagsterCodeLocation,
    render_dagster_cloud_yaml,
    render_run_policy,
    render_run_policy_json,
)
from constructs_lib.code_locations.publish import CodeLocationFiles
from constructs_lib.config import EnvironmentConfig
from constructs_lib.log_groups import EncryptedLogGroups
from constructs_lib.network import DagsterNetwork
from constructs_lib.token_secret import import_token_secret
from constructs_lib.workload import WorkloadRoles

from .names import PlatformNames
from .storage_stack import StorageStack


class PlatformStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: StorageStack,
        names: PlatformNames,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.add_stack_dependency(storage, "Stateful resources are imported by name and must exist first")
        stateful = storage.names
        if config.logging.kms:
            EncryptedLogGroups(
                self, "LogsKey", name_prefix=f"/dagster-platform/{config.name}/platform/",
                removal_policy=storage.removal_policy, description=f"Encrypts the platform stack's log groups ({config.name})",
            )
        workload_logs = logs.LogGroup.from_log_group_name(self, "WorkloadLogs", stateful.workload_log_group)
        agent_logs = logs.LogGroup.from_log_group_name(self, "AgentLogs", stateful.agent_log_group)
        token_secret = import_token_secret(
            self, "AgentToken", settings=config.agent.token_secret, created_secret_name=stateful.agent_token_secret
        )
        self.network = DagsterNetwork(
            self, "Network", settings=config.network, removal_policy=storage.removal_policy
        )
        self.cluster = DagsterCluster(
            self,
            "Cluster",
            settings=config.cluster,
            vpc=self.network.vpc,
            namespace_name=f"dagster-{config.name}.local",
            cluster_name=names.cluster,
        )
        self.workload = WorkloadRoles(
            self,
            "Workload",
            log_group=workload_logs,
            secrets_tag=config.agent.secrets_tag,
            secrets_tag_value=config.name,
            denied_secret_arns=[token_secret.secret_arn],
            pullable_repository_arns=[
                self.format_arn(service="ecr", resource="repository", resource_name=f"dagster/{config.name}/*")
            ],
        )
        compute_logs = config.storage.compute_logs
        compute_log_access = {
            "bucket_name": compute_log_bucket_name(config.name),
            "prefix": compute_logs.prefix,
            "kms_key_alias": compute_log_key_alias(config.name) if compute_logs.encryption == "kms" else None,
        }
        self.agent = DagsterAgent(
            self,
            "Agent",
            environment_name=config.name,
            dagster=config.dagster,
            agent=config.agent,
            cluster=self.cluster.cluster,
            namespace=self.cluster.namespace,
            vpc_subnets=self.network.subnets,
            assign_public_ip=self.network.assign_public_ip,
            token_secret=token_secret,
            agent_log_group=agent_logs,
            workload_log_group=workload_logs,
            workload_execution_role=self.workload.execution_role,
            workload_task_role=self.workload.task_role,
            inherited_environment={
                "DAGSTER_PLATFORM_ENVIRONMENT": config.name,
                "DAGSTER_PLATFORM_ALERT_QUEUE_URL": alert_queue_url(self, names.alert_queue),
                # The tag helpers in code locations enforce this environment's caps at import time.
                "DAGSTER_PLATFORM_RUN_POLICY_JSON": json.dumps(render_run_policy(config), sort_keys=True, separators=(",", ":")),
                "DAGSTER_PLATFORM_UI_URL": config.dagster.ui_url,
                # Runs read the agent's compute_logs block and resolve its {env:} bucket themselves.
                ENV_COMPUTE_LOG_BUCKET: compute_log_access["bucket_name"],
            },
            extra_config_blocks={
                "compute_logs": render_compute_logs_block(
                    compute_logs, kms_key_alias=compute_log_access["kms_key_alias"]
                )
            },
            service_name=names.agent_service,
        )
        for role in (self.agent.task_role, self.workload.task_role):
            grant_compute_log_access(role, **compute_log_access)
        # Locations not declared in config run with the default workload role: they alert too.
        grant_alert_publish(self.workload.task_role, queue_name=names.alert_queue, key_alias=names.alert_key_alias)
        self.code_locations = {}
        for name, settings in sorted(config.code_locations.items()):
            location = DagsterCodeLocation(
                self,
                f"Location-{name}",
                environment_name=config.name,
                location_name=name,
                settings=settings,
                repository=ecr.Repository.from_repository_name(
                    self, f"Repository-{name}", storage.repositories[name].repository_name
                ),
                workload_log_group=workload_logs,
                shared_secrets_tag=config.agent.secrets_tag,
                denied_secret_arns=[token_secret.secret_arn],
            )
            grant_compute_log_access(location.task_role, **compute_log_access)
            grant_alert_publish(location.task_role, queue_name=names.alert_queue, key_alias=names.alert_key_alias)
            self.agent.register_code_location(location)
            self.code_locations[name] = location
            CfnOutput(self, f"TaskRoleArn-{name}", value=location.task_role.role_arn,
                      description=f"Role of code location {name}: grant its data access here")
        # What a code location's CI fetches with `aws ssm get-parameter` (same text as cdk.out/dagster/<env>/).
        stage = Stage.of(self)
        self.code_location_files = CodeLocationFiles(
            self, "CodeLocationFiles", environment_name=config.name,
            files={
                "dagster_cloud.yaml": render_dagster_cloud_yaml(config, account=stage.account, region=stage.region),
                "run_policy.json": render_run_policy_json(config),
            },
        )
        CfnOutput(self, "CodeLocationFilesPath", value=self.code_location_files.path,
                  description="SSM parameters <path>/dagster_cloud.yaml and <path>/run_policy.json for code-location CI")
        CfnOutput(self, "ClusterName", value=self.cluster.cluster.cluster_name)
        CfnOutput(self, "AgentServiceName", value=self.agent.service.service_name)
        CfnOutput(self, "ServiceDiscoveryNamespaceId", value=self.cluster.namespace.namespace_id)
        CfnOutput(self, "WorkloadTaskRoleArn", value=self.workload.task_role.role_arn,
                  description="Default role of code servers and runs; grant your data access to it")
