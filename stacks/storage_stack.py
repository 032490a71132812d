"""Stateful resources of one environment: what must survive a redeploy of everything else."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.config import EnvironmentConfig
from constructs_lib.retention import log_retention
from constructs_lib.token_secret import AgentTokenSecret

from .names import StatefulNames


class StorageStack(Stack):
    """The agent token secret and the log groups of the agent and of code servers and runs."""

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
        self.agent_log_group = logs.LogGroup(
            self,
            "AgentLogs",
            log_group_name=self.names.agent_log_group,
            retention=log_retention(config.agent.log_retention_days),
            removal_policy=removal,
        )
        self.workload_log_group = logs.LogGroup(
            self,
            "WorkloadLogs",
            log_group_name=self.names.workload_log_group,
            retention=log_retention(config.agent.log_retention_days),
            removal_policy=removal,
        )
        CfnOutput(self, "AgentTokenSecretArn", value=self.token.secret.secret_arn,
                  description="Put the Dagster+ agent token in this secret")
        CfnOutput(self, "AgentLogGroupName", value=self.agent_log_group.log_group_name)
        CfnOutput(self, "WorkloadLogGroupName", value=self.workload_log_group.log_group_name,
                  description="Code servers and runs log here")
