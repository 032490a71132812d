"""Alerts and health of one environment: the relay pipeline, email, alarms and the dashboard."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from constructs_lib.alerting import AlertPipeline
from constructs_lib.config import EnvironmentConfig
from constructs_lib.health import AgentTarget, PlatformHealth, RelayTarget

from .names import PlatformNames


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
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
            key=self.alerts.key,
            monitor_ses=alerting.email is not None,
            removal_policy=removal_policy,
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

    def finish(self, extra_widgets=()) -> None:
        self.health.finish_dashboard(extra_widgets)
