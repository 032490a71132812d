"""Alerts and health of one environment: the relay pipeline, email, alarms and the dashboard."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib.alerting import AlertPipeline
from constructs_lib.config import EnvironmentConfig
from constructs_lib.health import AgentTarget, PlatformHealth, RelayTarget
from constructs_lib.log_forwarding import LogForwarding
from constructs_lib.log_groups import EncryptedLogGroups

from .names import PlatformNames, StatefulNames


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        names: PlatformNames,
        cluster_name: str,
        removal_policy: RemovalPolicy,
        stateful: StatefulNames,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if config.logging.kms:
            EncryptedLogGroups(
                self, "LogsKey", name_prefix=f"/dagster-platform/{config.name}/observability/",
                removal_policy=removal_policy, description=f"Encrypts the observability stack's log groups ({config.name})",
            )
        alerting = config.alerting
        self.alerts = AlertPipeline(
            self,
            "Alerts",
            environment_name=config.name,
            settings=alerting,
            cluster_name=cluster_name,
            removal_policy=removal_policy,
            queue_name=names.alert_queue,
            key_alias=names.alert_key_alias,
        )
        self.forwarding = None
        if config.logging.forwarding is not None:
            self.forwarding = LogForwarding(
                self,
                "Forwarding",
                settings=config.logging.forwarding,
                environment_name=config.name,
                log_groups={
                    "agent": logs.LogGroup.from_log_group_name(self, "AgentLogs", stateful.agent_log_group),
                    "workloads": logs.LogGroup.from_log_group_name(self, "WorkloadLogs", stateful.workload_log_group),
                },
                removal_policy=removal_policy,
            )
        self.health = PlatformHealth(
            self,
            "Health",
            environment_name=config.name,
            settings=config.health,
            agent=AgentTarget(
                cluster_name=cluster_name, service_name=names.agent_service, replicas=config.agent.replicas
            ),
            relay=RelayTarget(
                function=self.alerts.relay,
                queue=self.alerts.queue,
                dead_letter_queue=self.alerts.dead_letter_queue,
                log_group=self.alerts.relay.log_group,
            ),
            alerts_topic=self.alerts.topic,
            backstop_emails=alerting.teams[alerting.default_team].email,
            key=self.alerts.topic_key,
            monitor_ses=alerting.email is not None,
            extra_alarms=self.forwarding.alarms if self.forwarding else (),
            removal_policy=removal_policy,
            workload_log_group_name=stateful.workload_log_group,
        )
        CfnOutput(self, "AlertTopicArn", value=self.alerts.topic.topic_arn,
                  description="Publish alerts here (CloudWatch alarms, scripts); the relay routes them by team")
        CfnOutput(self, "AlertQueueUrl", value=self.alerts.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.alerts.dead_letter_queue.queue_url)
        CfnOutput(self, "DashboardName", value=self.health.dashboard.dashboard_name)
        if self.alerts.webhook_url is not None:
            CfnOutput(self, "DagsterCloudWebhookUrl", value=self.alerts.webhook_url.url,
                      description="Dagster+ webhook URL; send the shared secret in x-dagster-platform-secret")
            CfnOutput(self, "WebhookSharedSecretArn", value=self.alerts.webhook_secret.secret_arn)

    def finish(self) -> None:
        widgets = []
        if self.forwarding is not None:
            widgets.append(
                cloudwatch.GraphWidget(
                    title="Log forwarding delivery",
                    left=[alarm.metric for alarm in self.forwarding.alarms],
                    width=24,
                )
            )
        self.health.finish_dashboard(widgets)
