"""Stateful resources of one environment: what must survive a redeploy of everything else."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from constructs_lib.config import EnvironmentConfig
from constructs_lib.code_locations import CodeLocationRepository
from constructs_lib.compute_logs import ComputeLogBucket
from constructs_lib.log_groups import PlatformLogGroups
from constructs_lib.token_secret import AgentTokenSecret

from .names import StatefulNames


class StorageStack(Stack):
    """The agent token secret, the platform log groups, and (as they are added) buckets and keys."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retain_stateful_resources else RemovalPolicy.DESTROY
        self.removal_policy = removal
        self.names = StatefulNames(config.name)

        self.token = AgentTokenSecret(
            self,
            "AgentToken",
            settings=config.agent.token_secret,
            secret_name=self.names.agent_token_secret,
            removal_policy=removal,
        )
        self.log_groups = PlatformLogGroups(
            self,
            "Logs",
            agent_log_group_name=self.names.agent_log_group,
            workload_log_group_name=self.names.workload_log_group,
            agent_retention_days=config.agent.log_retention_days,
            workload_retention_days=config.logging.workload_retention_days,
            encrypt_with_kms=config.logging.kms,
            removal_policy=removal,
        )
        self.agent_log_group = self.log_groups.agent
        self.workload_log_group = self.log_groups.workloads
        self.compute_logs = ComputeLogBucket(
            self,
            "ComputeLogs",
            settings=config.storage.compute_logs,
            environment_name=config.name,
            removal_policy=removal,
        )
        self.repositories = {
            name: CodeLocationRepository(
                self,
                f"Repository-{name}",
                environment_name=config.name,
                location_name=name,
                settings=settings,
                removal_policy=removal,
            )
            for name, settings in sorted(config.code_locations.items())
        }
        CfnOutput(self, "AgentTokenSecretArn", value=self.token.secret.secret_arn,
                  description="Put the Dagster+ agent token in this secret")
        CfnOutput(self, "ComputeLogBucketName", value=self.compute_logs.bucket.bucket_name,
                  description="Stdout/stderr of runs, under the configured prefix")
        CfnOutput(self, "AgentLogGroupName", value=self.agent_log_group.log_group_name)
        CfnOutput(self, "WorkloadLogGroupName", value=self.workload_log_group.log_group_name,
                  description="Code servers and runs log here")
