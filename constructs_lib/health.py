"""Platform health: alarms that page the platform team, and one dashboard per environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .alerting.grants import allow_alarm_publishing
from .config import HealthSettings
from .log_groups import log_group_arn
from .retention import log_retention

ONE_MINUTE = Duration.minutes(1)


def _topic_key(topic: sns.ITopic) -> kms.IKey | None:
    return getattr(topic, "master_key", None)

FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class AgentTarget:
    cluster_name: str
    service_name: str
    replicas: int


@dataclass(frozen=True)
class RelayTarget:
    function: lambda_.IFunction
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    log_group: logs.ILogGroup | None = None


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """Deliver rule matches to a log group through a native resource policy. CDK's own
    ``CloudWatchLogGroup`` target installs that policy with a custom-resource Lambda."""

    def __init__(self, log_group: logs.LogGroup, dead_letter_queue: sqs.IQueue) -> None:
        self._log_group = log_group
        self._dead_letter_queue = dead_letter_queue

    def bind(self, rule: events.IRule, id=None) -> events.RuleTargetConfig:
        logs.ResourcePolicy(
            self._log_group,
            "EventsMayWrite",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("events.amazonaws.com"), iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self._log_group.log_group_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            ],
        )
        # A queue policy, not a grant: a grant would also name the rule in the queue key's policy and
        # make key, queue and rule depend on each other. That key already admits EventBridge for this account.
        self._dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self._dead_letter_queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        return events.RuleTargetConfig(
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dead_letter_queue.queue_arn),
            arn=log_group_arn(self._log_group, self._log_group.log_group_name),
        )


class PlatformHealth(Construct):
    """Creates the guide's "Dagster infrastructure health" alarms, each with its threshold from
    settings, alarm and OK actions to the alerts topic (routed to the platform team): agent tasks
    below the desired replicas (missing data is breaching: a vanished agent is down, not unknown),
    agent tasks stopping repeatedly, sustained agent CPU or memory, relay errors and throttles,
    messages in the dead-letter queue, SES bounce and complaint rates, plus any extra alarms
    (e.g. log forwarding delivery). Alarms about the relay itself also go to a backstop topic with
    direct email subscriptions, because the relay cannot report its own failure.

    Attributes: ``alarms`` (name -> Alarm), ``backstop_topic``, ``dashboard``, ``agent_stops_rule``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: HealthSettings,
        agent: AgentTarget,
        relay: RelayTarget,
        alerts_topic: sns.ITopic,
        backstop_emails: Sequence[str],
        key: kms.IKey | None,
        monitor_ses: bool,
        extra_alarms: Sequence[cloudwatch.Alarm] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        audit_log_retention_days: int = 90,
        workload_log_group_name: str | None = None,
        alarm_name_prefix: str | None = None,
    ) -> None:
        """``key`` encrypts the backstop topic (give it the alert topic's key: its policy admits CloudWatch);
        ``alarm_name_prefix`` (default ``dagster-<environment>-``) names every alarm, so the topic and key policies
        admit exactly these alarms."""
        super().__init__(scope, construct_id)
        self.alarm_name_prefix = alarm_name_prefix or f"dagster-{environment_name}-"
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        to_alerts = actions.SnsAction(alerts_topic)
        self.backstop_topic = sns.Topic(
            self, "Backstop", master_key=key, enforce_ssl=True, display_name=f"Dagster {environment_name} relay down"
        )
        for address in backstop_emails:
            self.backstop_topic.add_subscription(
                subscriptions.EmailSubscription(address, dead_letter_queue=relay.dead_letter_queue)
            )
        to_backstop = actions.SnsAction(self.backstop_topic)

        service = {"ClusterName": agent.cluster_name, "ServiceName": agent.service_name}
        running = cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map=service,
            statistic="Minimum",
            period=ONE_MINUTE,
            label="Agent tasks running",
        )
        self._alarm(
            "AgentBelowReplicas",
            running,
            threshold=agent.replicas,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            periods=settings.agent_missing_minutes,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description=f"Fewer than {agent.replicas} Dagster agent task(s) running for "
            f"{settings.agent_missing_minutes} min in {environment_name}; runs and code servers are not launched.",
            actions_to=[to_alerts],
        )

        log_group = logs.LogGroup(
            self,
            "AgentStops",
            retention=log_retention(audit_log_retention_days),
            removal_policy=removal_policy,
        )
        self.agent_stops_rule = events.Rule(
            self,
            "AgentStopsRule",
            rule_name=f"{self.alarm_name_prefix}agent-stops",
            description="Every stop of a Dagster agent task, kept as an audit trail and counted for the alarm",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={"lastStatus": ["STOPPED"], "group": [f"service:{agent.service_name}"]},
            ),
        )
        self.agent_stops_rule.add_target(_LogGroupTarget(log_group, relay.dead_letter_queue))
        stops = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="MatchedEvents",
            dimensions_map={"RuleName": self.agent_stops_rule.rule_name},
            statistic="Sum",
            period=Duration.hours(1),
            label="Agent task stops",
        )
        self._alarm(
            "AgentStoppingRepeatedly",
            stops,
            threshold=settings.agent_stopped_tasks_per_hour,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"Dagster agent tasks stopped {settings.agent_stopped_tasks_per_hour}+ times in an hour "
            f"in {environment_name}: a crash loop (see the AgentStops log group for reasons).",
            actions_to=[to_alerts],
        )
        for label, metric_name, threshold in (
            ("Cpu", "CPUUtilization", settings.agent_cpu_percent),
            ("Memory", "MemoryUtilization", settings.agent_memory_percent),
        ):
            self._alarm(
                f"Agent{label}High",
                cloudwatch.Metric(
                    namespace="AWS/ECS",
                    metric_name=metric_name,
                    dimensions_map=service,
                    statistic="Average",
                    period=ONE_MINUTE,
                ),
                threshold=threshold,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                periods=5,
                datapoints=4,
                missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                description=f"Dagster agent {label.lower()} above {threshold}% for 4 of 5 minutes in "
                f"{environment_name}; raise agent.{label.lower()} in the environment file.",
                actions_to=[to_alerts],
            )

        relay_actions = [to_alerts, to_backstop]
        self._alarm(
            "RelayErrors",
            relay.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=settings.relay_errors,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"The alert relay of {environment_name} raised errors: alerts are being retried and may "
            "reach the dead-letter queue.",
            actions_to=relay_actions,
        )
        self._alarm(
            "RelayThrottles",
            relay.function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"The alert relay of {environment_name} is throttled: alerts are delayed.",
            actions_to=relay_actions,
        )
        self._alarm(
            "DeadLetters",
            relay.dead_letter_queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
            threshold=settings.dlq_messages,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"Alerts of {environment_name} could not be delivered and are in the dead-letter queue; "
            "read them there and redrive once the destination is fixed.",
            actions_to=relay_actions,
        )
        self._alarm(
            "AlertsBacklog",
            relay.queue.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, statistic="Maximum"),
            threshold=900,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            periods=5,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"Alerts of {environment_name} have waited 15+ minutes in the queue: the relay is not "
            "keeping up or is failing.",
            actions_to=relay_actions,
        )
        if monitor_ses:
            for label, metric_name, percent in (
                ("Bounce", "Reputation.BounceRate", settings.ses_bounce_rate_percent),
                ("Complaint", "Reputation.ComplaintRate", settings.ses_complaint_rate_percent),
            ):
                self._alarm(
                    f"Ses{label}Rate",
                    cloudwatch.Metric(namespace="AWS/SES", metric_name=metric_name, statistic="Maximum", period=Duration.hours(1)),
                    threshold=percent / 100,
                    comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    periods=1,
                    missing=cloudwatch.TreatMissingData.NOT_BREACHING,
                    description=f"SES {label.lower()} rate at or above {percent}%: alert email may be suspended; "
                    "check alerting.teams email addresses.",
                    actions_to=[to_alerts, to_backstop],
                )
        for alarm in extra_alarms:
            description = alarm.node.default_child
            description.alarm_description = f"{description.alarm_description or alarm.alarm_name}\nalert_team=platform"
            alarm.add_alarm_action(to_alerts)
            alarm.add_ok_action(to_alerts)
            self.alarms[alarm.node.id] = alarm

        for name, alarm in self.alarms.items():
            alarm.node.default_child.alarm_name = f"{self.alarm_name_prefix}{name}"
        for topic in (alerts_topic, self.backstop_topic):
            allow_alarm_publishing(topic, _topic_key(topic), alarm_name_prefix=self.alarm_name_prefix)
        dead_letter_key = relay.dead_letter_queue.encryption_master_key
        if dead_letter_key is not None and backstop_emails:
            # Email deliveries that fail for good are redriven by SNS to the relay's dead-letter queue.
            dead_letter_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="BackstopRedrivesToDeadLetters",
                    principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                    resources=["*"],
                    conditions={"ArnEquals": {"aws:SourceArn": self.backstop_topic.topic_arn}},
                )
            )

        self.dashboard = self._dashboard(environment_name, agent, relay, running, stops, workload_log_group_name)

    def _alarm(self, name, metric, *, threshold, comparison, periods, missing, description, actions_to, datapoints=None):
        alarm = metric.create_alarm(
            self,
            name,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=missing,
            alarm_description=f"{description}\nalert_team=platform",
        )
        for action in actions_to:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        self.alarms[name] = alarm
        return alarm

    def _dashboard(
        self, environment_name, agent: AgentTarget, relay: RelayTarget, running, stops, workload_log_group_name
    ) -> cloudwatch.Dashboard:
        cluster = {"ClusterName": agent.cluster_name}
        service = {**cluster, "ServiceName": agent.service_name}
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# Dagster platform — {environment_name}\nAgent, code servers and runs, alert relay, "
                "log forwarding. Alarms are listed at the bottom.",
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Agent tasks: running vs desired",
                left=[running],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=agent.replicas, label="desired replicas")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Agent CPU and memory (%)",
                left=[
                    cloudwatch.Metric(namespace="AWS/ECS", metric_name=name, dimensions_map=service, statistic="Average")
                    for name in ("CPUUtilization", "MemoryUtilization")
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(title="Agent task stops", left=[stops], width=8),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tasks in the cluster (agent, code servers, runs)",
                left=[
                    cloudwatch.Metric(
                        namespace="ECS/ContainerInsights", metric_name="TaskCount", dimensions_map=cluster, statistic="Average"
                    ),
                    cloudwatch.Metric(
                        namespace="ECS/ContainerInsights", metric_name="ServiceCount", dimensions_map=cluster, statistic="Average"
                    ),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Cluster CPU and memory reserved vs used",
                left=[
                    cloudwatch.Metric(namespace="ECS/ContainerInsights", metric_name=name, dimensions_map=cluster, statistic="Sum")
                    for name in ("CpuUtilized", "CpuReserved")
                ],
                right=[
                    cloudwatch.Metric(namespace="ECS/ContainerInsights", metric_name=name, dimensions_map=cluster, statistic="Sum")
                    for name in ("MemoryUtilized", "MemoryReserved")
                ],
                width=12,
            ),
        )
        if workload_log_group_name:
            # The ECS launcher names streams after task definition families: server_* for code
            # servers, dagsterrun_* for runs. Counting active streams splits the cluster's tasks.
            dashboard.add_widgets(
                cloudwatch.LogQueryWidget(
                    title="Active code servers and runs (log streams writing)",
                    log_group_names=[workload_log_group_name],
                    query_lines=[
                        "fields @logStream",
                        "parse @logStream /^(?<kind>server|dagsterrun)/",
                        "filter ispresent(kind)",
                        "stats count_distinct(@logStream) as tasks by kind, bin(15m)",
                    ],
                    view=cloudwatch.LogQueryVisualizationType.LINE,
                    width=24,
                )
            )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Alert relay",
                left=[
                    relay.function.metric_invocations(statistic="Sum"),
                    relay.function.metric_errors(statistic="Sum"),
                    relay.function.metric_throttles(statistic="Sum"),
                ],
                right=[relay.function.metric_duration(statistic="p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Alert queue and dead letters",
                left=[
                    relay.queue.metric_approximate_number_of_messages_visible(statistic="Maximum"),
                    relay.dead_letter_queue.metric_approximate_number_of_messages_visible(statistic="Maximum"),
                ],
                right=[relay.queue.metric_approximate_age_of_oldest_message(statistic="Maximum")],
                width=8,
            ),
            *(
                [
                    cloudwatch.LogQueryWidget(
                        title="Alerts delivered by team",
                        log_group_names=[relay.log_group.log_group_name],
                        query_lines=[
                            "fields @timestamp, team",
                            'filter message = "alert delivered"',
                            "stats count(*) as alerts by team",
                        ],
                        view=cloudwatch.LogQueryVisualizationType.BAR,
                        width=8,
                    )
                ]
                if relay.log_group is not None
                else []
            ),
        )
        return dashboard

    def finish_dashboard(self, extra_widgets: Sequence[cloudwatch.IWidget] = ()) -> None:
        """Add widgets other constructs own (e.g. log forwarding), then the alarm status grid."""
        if extra_widgets:
            self.dashboard.add_widgets(*extra_widgets)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Platform alarms", alarms=list(self.alarms.values()), width=24)
        )
