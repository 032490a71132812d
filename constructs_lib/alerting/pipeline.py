"""One queue every alert passes through, a relay that delivers each to its team, and nothing lost."""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from ..config import AlertingSettings
from ..nag import acknowledge, acknowledge_wildcards
from ..secrets import secret_arn
from .email import AlertEmail
from .lambda_asset import relay_asset, webhook_asset
from .rendering import render_routes_json

POWERTOOLS_VERSION = "3.37.0"
RUNTIME = lambda_.Runtime.PYTHON_3_14
PYTHON_VERSION = "python3.14"
DLQ_RETENTION = Duration.days(14)
# Worst case per record: SES plus two webhooks at the relay's 5 s HTTP timeout. Five records fit
# in the function timeout with room to spare; SQS guidance is a visibility timeout of 6x that.
RELAY_BATCH_SIZE = 5
RELAY_TIMEOUT = Duration.seconds(90)
QUEUE_VISIBILITY_TIMEOUT = Duration.seconds(6 * 90)
RELAY_RESERVED_CONCURRENCY = 5
WEBHOOK_RESERVED_CONCURRENCY = 5


def powertools_layer(scope: Construct, construct_id: str) -> lambda_.ILayerVersion:
    """The public Powertools layer for this region, looked up from its public SSM parameter."""
    arn = ssm.StringParameter.value_for_string_parameter(
        scope, f"/aws/service/powertools/python/x86_64/{PYTHON_VERSION}/{POWERTOOLS_VERSION}"
    )
    return lambda_.LayerVersion.from_layer_version_arn(scope, construct_id, arn)


@jsii.implements(events.IRuleTarget)
class QueueTarget:
    """An SQS target that admits exactly the rules bound to it: ``sqs:SendMessage`` only, with ``aws:SourceArn`` equal
    to the rule's ARN, on the queue and on its dead-letter queue. (CDK's ``SqsQueue`` target admits every rule of the
    account and grants more than SendMessage.) The queues' key must admit the rule separately."""

    def __init__(self, queue: sqs.IQueue, *, dead_letter_queue: sqs.IQueue | None = None, retry_attempts: int = 185) -> None:
        self._queue = queue
        self._dead_letter_queue = dead_letter_queue
        self._retry_attempts = retry_attempts

    def bind(self, rule: events.IRule, id=None) -> events.RuleTargetConfig:
        for queue in filter(None, (self._queue, self._dead_letter_queue)):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            )
        return events.RuleTargetConfig(
            arn=self._queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dead_letter_queue.queue_arn)
            if self._dead_letter_queue
            else None,
            retry_policy=events.CfnRule.RetryPolicyProperty(maximum_retry_attempts=self._retry_attempts),
        )


def lambda_role(scope: Construct, construct_id: str, log_group: logs.ILogGroup, purpose: str) -> iam.Role:
    """A function role that writes only to its own log group (no AWS managed policy)."""
    role = iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=purpose)
    log_group.grant_write(role)
    return role


class AlertPipeline(Construct):
    """Creates the alert path: an encrypted SNS topic (alarms, SES events, any publisher) and an
    EventBridge rule for abnormally stopped ECS tasks of the platform cluster, both into one
    encrypted SQS queue with a dead-letter queue; a relay Lambda that reads batches, reports
    partial failures, deduplicates and tracks SLA crossings in DynamoDB, and sends each alert to
    its team by email (SES), Slack or Microsoft Teams; optionally a Function URL for Dagster+
    webhooks guarded by a shared secret.

    Attributes: ``topic``, ``queue``, ``dead_letter_queue``, ``key``, ``state_table``,
    ``relay``, ``webhook`` (or None), ``webhook_url`` (or None), ``webhook_secret`` (or None),
    ``email`` (or None). Grant publishers with ``grant_publish``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        settings: AlertingSettings,
        cluster_name: str | None,
        removal_policy: RemovalPolicy,
        queue_name: str | None = None,
        key_alias: str | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        relay_reserved_concurrency: int = RELAY_RESERVED_CONCURRENCY,
        webhook_reserved_concurrency: int = WEBHOOK_RESERVED_CONCURRENCY,
    ) -> None:
        """``relay_reserved_concurrency``: executions reserved for the relay (capacity no other function can take;
        also the event source's maximum concurrency, at least 2). ``webhook_reserved_concurrency``: the most executions
        the public webhook may use, so a flood of requests can neither starve the account nor delay the relay."""
        super().__init__(scope, construct_id)
        if relay_reserved_concurrency < 2 or webhook_reserved_concurrency < 1:
            raise ValueError("the relay needs at least 2 reserved executions (SQS minimum), the webhook at least 1")
        self._webhook_reserved_concurrency = webhook_reserved_concurrency
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the Dagster platform alert path ({environment_name})",
            enable_key_rotation=True,
            alias=key_alias,
            removal_policy=removal_policy,
        )
        # The topic has its own key: the queue's key policy names the topic (SNS may decrypt only
        # for it), so one shared key would make key and topic depend on each other.
        self.topic_key = kms.Key(
            self,
            "TopicKey",
            description=f"Encrypts the Dagster platform alerts topic ({environment_name})",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # CloudWatch alarms are admitted by name where they are created (``allow_alarm_publishing``).
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="Publish via ses",
                principals=[iam.ServicePrincipal("ses.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        # EventBridge rules of this platform are named with this prefix: only they may use the queues' key. A name,
        # not a reference: the rules target queues this key encrypts, so a reference would be circular.
        self.rule_name_prefix = f"dagster-{environment_name}-"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="Publish via events",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="events", resource="rule", resource_name=f"{self.rule_name_prefix}*")},
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            retention_period=DLQ_RETENTION,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(4),
            visibility_timeout=QUEUE_VISIBILITY_TIMEOUT,
            max_message_size_bytes=1024 * 1024,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=settings.max_receive_count),
            removal_policy=removal_policy,
        )
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            acknowledge(
                self.dead_letter_queue,
                rule,
                "This queue is the dead-letter queue of the alert path; alarms on its depth page the platform team "
                "directly (backstop topic), so it needs no dead-letter queue of its own.",
            )
        self.topic = sns.Topic(self, "Topic", master_key=self.topic_key, enforce_ssl=True, display_name="Dagster platform alerts")
        self.topic.add_subscription(subscriptions.SqsSubscription(self.queue, dead_letter_queue=self.dead_letter_queue))

        cluster_arn = (
            stack.format_arn(service="ecs", resource="cluster", resource_name=cluster_name) if cluster_name else None
        )
        self.ecs_rule = None
        if settings.ecs_task_alerts and cluster_arn is not None:
            self.ecs_rule = events.Rule(
                self,
                "StoppedTasks",
                rule_name=f"{self.rule_name_prefix}stopped-tasks",
                description="ECS tasks of the Dagster cluster that stopped abnormally (non-zero exit, OOM, failed start)",
                event_pattern=events.EventPattern(
                    source=["aws.ecs"],
                    detail_type=["ECS Task State Change"],
                    detail={
                        "clusterArn": [cluster_arn],
                        "lastStatus": ["STOPPED"],
                        "$or": [
                            {"containers": {"exitCode": [{"anything-but": 0}]}},
                            {"stopCode": ["TaskFailedToStart", "EssentialContainerExited"]},
                            {"stoppedReason": [{"prefix": "OutOfMemory"}]},
                        ],
                    },
                ),
                targets=[QueueTarget(self.queue, dead_letter_queue=self.dead_letter_queue, retry_attempts=185)],
            )

        # Dedup markers, per-destination delivery records and per-asset SLA state, all with TTL.
        self.state_table = dynamodb.Table(
            self,
            "State",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            removal_policy=removal_policy,
        )

        self.email = (
            AlertEmail(self, "Email", settings=settings.email, events_topic=self.topic) if settings.email else None
        )

        layer = powertools_layer(self, "Powertools")
        relay_logs = logs.LogGroup(self, "RelayLogs", retention=log_retention, removal_policy=removal_policy)
        environment = {
            "ROUTES_FILE": "routes.json",
            "STATE_TABLE_NAME": self.state_table.table_name,
            "POWERTOOLS_SERVICE_NAME": f"dagster-alert-relay-{environment_name}",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "HTTP_TIMEOUT_SECONDS": "5",
        }
        if self.email:
            environment["SES_CONFIGURATION_SET"] = self.email.configuration_set.configuration_set_name
        relay_role = lambda_role(self, "RelayRole", relay_logs, f"Dagster alert relay ({environment_name})")
        self.relay = lambda_.Function(
            self,
            "Relay",
            role=relay_role,
            description=f"Delivers Dagster platform alerts of {environment_name} to their teams",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(relay_asset(render_routes_json(environment_name, settings)))),
            layers=[layer],
            memory_size=256,
            timeout=RELAY_TIMEOUT,
            environment=environment,
            log_group=relay_logs,
            tracing=lambda_.Tracing.ACTIVE,
            # Reserved: a flood elsewhere in the account (or at the webhook) cannot take the relay's capacity.
            reserved_concurrent_executions=relay_reserved_concurrency,
        )
        self.relay.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=RELAY_BATCH_SIZE,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
                # Never more pollers than reserved executions: SQS would otherwise see throttles and count receives.
                max_concurrency=relay_reserved_concurrency,
            )
        )
        acknowledge(
            self.relay,
            "Serverless-LambdaDLQ",
            "The relay is only invoked synchronously by its SQS event source; failed records go back to the queue "
            "and, after max_receive_count receives, to its dead-letter queue. An async DLQ would never receive anything.",
        )
        acknowledge(
            self.relay,
            "Serverless-LambdaEventSourceMappingDestination",
            "On-failure destinations exist only for stream and Kafka sources; for SQS the queue's redrive policy to "
            "the dead-letter queue is the failure destination.",
        )
        # Exactly what the relay's code calls (tests/authz record it): single-item reads and writes, and the key for
        # the table's and the queue's data (DynamoDB and SQS decrypt on the relay's behalf).
        self.relay.add_to_role_policy(
            iam.PolicyStatement(
                sid="RelayState",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.state_table.table_arn],
            )
        )
        self.relay.add_to_role_policy(
            iam.PolicyStatement(
                sid="DecryptStateAndAlerts",
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": [f"dynamodb.{stack.region}.amazonaws.com", f"sqs.{stack.region}.amazonaws.com"]}},
            )
        )
        if cluster_name is not None:
            self.relay.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadTeamTagOfStoppedTasks",
                    actions=["ecs:ListTagsForResource"],
                    resources=[stack.format_arn(service="ecs", resource="task", resource_name=f"{cluster_name}/*")],
                )
            )
        webhook_secrets = sorted(
            {
                name
                for route in settings.teams.values()
                for name in (route.slack_webhook_secret, route.teams_webhook_secret)
                if name
            }
        )
        if webhook_secrets:
            # GetSecretValue only (a grant_read adds DescribeSecret, which the relay never calls).
            self.relay.add_to_role_policy(
                iam.PolicyStatement(
                    sid="ReadWebhookUrls",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[secret_arn(self, f"{name}-??????") for name in webhook_secrets],
                )
            )
        if self.email:
            self.relay.add_to_role_policy(
                iam.PolicyStatement(
                    sid="SendOnlyFromTheAlertSender",
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[self.email.identity_arn, self.email.configuration_set_arn],
                    conditions={"StringEquals": {"ses:FromAddress": self.email.sender}},
                )
            )
        acknowledge_wildcards(
            relay_role,
            "Stopped tasks are read by ARN under this cluster only; webhook secrets end in the six random "
            "characters Secrets Manager appends; X-Ray segment writes have no resource scope; log streams are created "
            "per invocation container in the function's own log group.",
        )

        self.webhook = self.webhook_url = self.webhook_secret = None
        if settings.webhook:
            self._add_webhook(environment_name, layer, removal_policy, log_retention)

    def _add_webhook(self, environment_name, layer, removal_policy, log_retention) -> None:
        self.webhook_secret = secretsmanager.Secret(
            self,
            "WebhookSharedSecret",
            description="Shared secret Dagster+ webhooks send in the x-dagster-platform-secret header",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=48),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.webhook_secret,
            "AwsSolutions-SMG4",
            "A shared secret configured by hand in Dagster+ webhook settings; rotate by generating a new value and "
            "updating Dagster+ at the same time (README), which a rotation Lambda cannot do.",
        )
        webhook_logs = logs.LogGroup(self, "WebhookLogs", retention=log_retention, removal_policy=removal_policy)
        webhook_role = lambda_role(self, "WebhookRole", webhook_logs, f"Dagster+ webhook intake ({environment_name})")
        self.webhook = lambda_.Function(
            self,
            "Webhook",
            role=webhook_role,
            description=f"Accepts Dagster+ webhook alerts for {environment_name} into the alert queue",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(webhook_asset())),
            layers=[layer],
            memory_size=256,
            timeout=Duration.seconds(10),
            environment={
                "ALERT_QUEUE_URL": self.queue.queue_url,
                "WEBHOOK_SECRET_ARN": self.webhook_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": f"dagster-alert-webhook-{environment_name}",
            },
            log_group=webhook_logs,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=self._webhook_reserved_concurrency,
        )
        self._grant_send(self.webhook.role)
        acknowledge(
            self.webhook,
            "Serverless-LambdaDLQ",
            "Invoked synchronously through its Function URL: Dagster+ sees the HTTP status and retries; an async "
            "DLQ would never receive anything.",
        )
        self.webhook.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadSharedSecret", actions=["secretsmanager:GetSecretValue"], resources=[self.webhook_secret.secret_arn]
            )
        )
        self.webhook_url = self.webhook.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        acknowledge_wildcards(
            webhook_role,
            "X-Ray segment writes have no resource scope; log streams are created per container in the function's own "
            "log group; the queue and secret grants name their ARNs.",
        )

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """Allow Dagster code (a code location's task role) to put alerts on the queue."""
        self._grant_send(grantee.grant_principal)

    def _grant_send(self, principal: iam.IPrincipal) -> None:
        """``sqs:SendMessage`` and the two KMS calls SQS makes for it on an encrypted queue; nothing more (CDK's
        ``grant_send_messages`` adds queue attributes, Encrypt and ReEncrypt)."""
        principal.add_to_principal_policy(
            iam.PolicyStatement(sid="SendAlerts", actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptAlerts",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sqs.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
