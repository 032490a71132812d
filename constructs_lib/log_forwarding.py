"""Forward the agent's and the workloads' CloudWatch logs through Amazon Data Firehose.

CloudWatch Logs hands subscription data to Firehose as gzip-compressed JSON documents
(``DATA_MESSAGE``\\ s with ``logEvents``, and ``CONTROL_MESSAGE``\\ s). Firehose's own processors
decompress them and extract the log messages, so no code of ours (no Lambda) touches the
payload. Destinations:

* archive only: one stream to an S3 archive bucket, gzip objects under date-partitioned prefixes;
* HTTP endpoint only: one stream to the endpoint, failed records backed up to an S3 bucket;
* both: ONE stream to the endpoint that also backs up all data to the archive bucket, so each
  log group spends one of its two subscription-filter slots, not two.

The endpoint's API key is read by Firehose itself from Secrets Manager (the secret must hold
``{"api_key": "<key>"}``); it never appears in a template.
"""

from __future__ import annotations

import json
from typing import Mapping

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct, IValidation

from .compute_logs import S3_ACCESS_LOGS_BY_POLICY
from .buckets import expiring_log_bucket
from .config import LogForwardingSettings
from .config.observability import Buffering
from .log_groups import log_group_arn
from .nag import acknowledge, acknowledge_wildcards
from .retention import log_retention

#: CloudWatch Logs quota: subscription filters per log group (not adjustable).
MAX_SUBSCRIPTION_FILTERS_PER_LOG_GROUP = 2
LOG_GROUP_KEYS = ("agent", "workloads")
ERROR_OUTPUT_PREFIX = "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
FIREHOSE_NAMESPACE = "AWS/Firehose"


def archive_prefix(environment: str) -> str:
    return f"logs/{environment}/!{{timestamp:yyyy}}/!{{timestamp:MM}}/!{{timestamp:dd}}/"


def cloudwatch_logs_processing(*, message_extraction: bool, newline_delimited: bool) -> dict:
    """Firehose's native CloudWatch Logs processors, as the CloudFormation ``ProcessingConfiguration``."""
    processors: list[dict] = [
        {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]}
    ]
    if message_extraction:
        processors.append(
            {
                "Type": "CloudWatchLogProcessing",
                "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}],
            }
        )
    if newline_delimited:
        # Decompressed records carry no trailing newline; without one, S3 objects glue the last
        # line of a record to the first line of the next.
        processors.append({"Type": "AppendDelimiterToRecord"})
    return {"Enabled": True, "Processors": processors}


class LogForwarding(Construct):
    """A Firehose stream fed by one subscription filter per forwarded log group (``agent``,
    ``workloads``), delivering to an S3 archive, an HTTP endpoint, or the endpoint with every
    record also archived; the archive/backup bucket (encrypted, TLS-only, private, expiring),
    the roles of Firehose and of CloudWatch Logs (each scoped to this stream and its
    destinations), Firehose's error log group, and delivery alarms.

    Synth fails with a clear message if a forwarded log group would get more subscription
    filters than CloudWatch Logs allows (two), counting every filter in the app.

    ``message_extraction`` (on by default) delivers the bare log lines; off, each record stays the
    decompressed CloudWatch Logs document, which keeps ``logGroup`` and ``logStream`` (the
    stream names carry the run id). Pass ``access_log_bucket`` (a bucket whose policy admits
    ``logging.s3.amazonaws.com``) to log access to the buckets created here.

    Attributes: ``delivery_stream`` (``CfnDeliveryStream``), ``archive_bucket`` (or None),
    ``backup_bucket`` (the bucket the HTTP stream backs up to: a bucket of failed records, the
    archive bucket when both destinations are set, None for archive only), ``error_log_group``,
    ``subscription_filters`` (by log-group key), ``alarms``, ``firehose_role``, ``log_role``,
    ``api_key_secret`` (or None).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: LogForwardingSettings,
        environment_name: str,
        log_groups: Mapping[str, logs.ILogGroup],
        removal_policy: RemovalPolicy,
        access_log_bucket: s3.IBucket | None = None,
        message_extraction: bool = True,
        failed_data_expiration_days: int = 90,
        error_log_retention_days: int = 30,
    ) -> None:
        """``settings``: destinations (``archive``, ``http_endpoint`` with its API-key secret), buffering and a
        filter pattern per log group. ``environment_name``: names the stream and buckets. ``log_groups``: key
        (``agent``, ``workloads``) -> log group to forward. ``removal_policy``: of the buckets created.
        ``access_log_bucket``, ``message_extraction``, ``failed_data_expiration_days``,
        ``error_log_retention_days``: see the class docstring."""
        super().__init__(scope, construct_id)
        self.node.set_context(S3_ACCESS_LOGS_BY_POLICY, True)
        unknown = set(log_groups) - set(LOG_GROUP_KEYS)
        if unknown:
            raise ValueError(f"log_groups has unknown keys {sorted(unknown)}; expected {', '.join(LOG_GROUP_KEYS)}")
        enabled = [key for key in LOG_GROUP_KEYS if getattr(settings, key).enabled]
        missing = [key for key in enabled if key not in log_groups]
        if missing:
            raise ValueError(f"forwarding is enabled for {', '.join(missing)} but log_groups has no such group")

        stack = Stack.of(self)
        self._environment = environment_name
        self._removal_policy = removal_policy
        self._access_log_bucket = access_log_bucket
        http = settings.http_endpoint
        archive = settings.archive

        self.archive_bucket: s3.Bucket | None = None
        self.backup_bucket: s3.Bucket | None = None
        if archive is not None:
            self.archive_bucket = self._bucket(
                "Archive", archive.expiration_days, f"forwarded logs (logging.forwarding.archive, {archive.expiration_days} days)"
            )
        if http is not None:
            self.backup_bucket = self.archive_bucket or self._bucket(
                "FailedRecords", failed_data_expiration_days, "records the HTTP endpoint did not accept"
            )
        destination_bucket = self.backup_bucket or self.archive_bucket
        assert destination_bucket is not None  # settings guarantee a destination

        self.error_log_group = logs.LogGroup(
            self,
            "DeliveryErrors",
            retention=log_retention(error_log_retention_days),
            removal_policy=removal_policy,
        )
        delivery_stream_name = "DestinationDelivery"
        backup_stream_name = "BackupDelivery"
        logs.LogStream(self, "DestinationDeliveryStream", log_group=self.error_log_group,
                       log_stream_name=delivery_stream_name, removal_policy=removal_policy)
        if http is not None:
            logs.LogStream(self, "BackupDeliveryStream", log_group=self.error_log_group,
                           log_stream_name=backup_stream_name, removal_policy=removal_policy)

        self.firehose_role = iam.Role(
            self,
            "FirehoseRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description=f"Firehose delivery of forwarded Dagster logs ({environment_name})",
        )
        self._allow_bucket_writes(destination_bucket)
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteDeliveryErrors",
                actions=["logs:PutLogEvents"],
                resources=[
                    log_group_arn(self, self.error_log_group.log_group_name, stream=name)
                    for name in ([delivery_stream_name, backup_stream_name] if http else [delivery_stream_name])
                ],
            )
        )

        def logging_options(stream_name: str) -> dict:
            return {"Enabled": True, "LogGroupName": self.error_log_group.log_group_name, "LogStreamName": stream_name}

        self.api_key_secret: secretsmanager.ISecret | None = None
        stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
        )
        if http is None:
            assert archive is not None and self.archive_bucket is not None
            stream.add_property_override(
                "ExtendedS3DestinationConfiguration",
                {
                    "BucketARN": self.archive_bucket.bucket_arn,
                    "RoleARN": self.firehose_role.role_arn,
                    "Prefix": archive_prefix(environment_name),
                    "ErrorOutputPrefix": ERROR_OUTPUT_PREFIX,
                    "CompressionFormat": "GZIP",
                    "BufferingHints": _buffering(archive.buffering),
                    "CloudWatchLoggingOptions": logging_options(delivery_stream_name),
                    "ProcessingConfiguration": cloudwatch_logs_processing(
                        message_extraction=message_extraction, newline_delimited=True
                    ),
                },
            )
        else:
            assert self.backup_bucket is not None
            self.api_key_secret = secretsmanager.Secret.from_secret_name_v2(self, "ApiKey", http.api_key_secret)
            self.api_key_secret.grant_read(self.firehose_role)
            backup_buffering = archive.buffering if archive is not None else Buffering()
            stream.add_property_override(
                "HttpEndpointDestinationConfiguration",
                {
                    "EndpointConfiguration": {"Name": http.name, "Url": http.url},
                    "SecretsManagerConfiguration": {
                        "Enabled": True,
                        "SecretARN": self.api_key_secret.secret_arn,
                        "RoleARN": self.firehose_role.role_arn,
                    },
                    "RoleARN": self.firehose_role.role_arn,
                    "BufferingHints": _buffering(http.buffering),
                    "RetryOptions": {"DurationInSeconds": http.retry_seconds},
                    "RequestConfiguration": {
                        "CommonAttributes": [{"AttributeName": "environment", "AttributeValue": environment_name}]
                    },
                    "CloudWatchLoggingOptions": logging_options(delivery_stream_name),
                    "ProcessingConfiguration": cloudwatch_logs_processing(
                        message_extraction=message_extraction, newline_delimited=False
                    ),
                    "S3BackupMode": "AllData" if archive is not None else "FailedDataOnly",
                    "S3Configuration": {
                        "BucketARN": self.backup_bucket.bucket_arn,
                        "RoleARN": self.firehose_role.role_arn,
                        "Prefix": archive_prefix(environment_name),
                        "ErrorOutputPrefix": ERROR_OUTPUT_PREFIX,
                        "CompressionFormat": "GZIP",
                        "BufferingHints": _buffering(backup_buffering),
                        "CloudWatchLoggingOptions": logging_options(backup_stream_name),
                    },
                },
            )
        # Firehose checks its role when the stream is created: the policies must exist first.
        stream.node.add_dependency(self.firehose_role)
        self.delivery_stream = stream
        acknowledge_wildcards(
            self.firehose_role,
            "Firehose writes objects whose keys it derives from time and its own ids, so it may put objects "
            "anywhere in the one bucket it delivers to, which only this stream writes.",
        )

        self.log_role = iam.Role(
            self,
            "SubscriptionRole",
            assumed_by=iam.ServicePrincipal(
                f"logs.{stack.region}.amazonaws.com",
                conditions={"StringLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{stack.region}:{stack.account}:*"}},
            ),
            description=f"CloudWatch Logs puts forwarded Dagster logs ({environment_name}) into Firehose",
        )
        self.log_role.add_to_policy(
            iam.PolicyStatement(
                sid="PutForwardedLogs",
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[stream.attr_arn],
            )
        )

        self.subscription_filters: dict[str, logs.CfnSubscriptionFilter] = {}
        for key in enabled:
            subscription = logs.CfnSubscriptionFilter(
                self,
                f"{key.capitalize()}Subscription",
                log_group_name=log_groups[key].log_group_name,
                filter_pattern=getattr(settings, key).filter_pattern,
                destination_arn=stream.attr_arn,
                role_arn=self.log_role.role_arn,
                filter_name=f"dagster-{environment_name}-{key}-forwarding",
            )
            # CloudWatch Logs test-writes to the stream when the filter is created.
            subscription.node.add_dependency(self.log_role)
            self.subscription_filters[key] = subscription
        self.node.add_validation(_SubscriptionFilterLimit(self, self.subscription_filters))

        self.alarms: list[cloudwatch.Alarm] = self._alarms(settings)

    def add_alarm_action(self, *actions: cloudwatch.IAlarmAction) -> None:
        for alarm in self.alarms:
            alarm.add_alarm_action(*actions)

    def _bucket(self, construct_id: str, expiration_days: int, purpose: str) -> s3.Bucket:
        bucket = expiring_log_bucket(
            self,
            construct_id,
            expiration_id="ExpireForwardedLogs",
            expiration_days=expiration_days,
            removal_policy=self._removal_policy,
            access_log_bucket=self._access_log_bucket,
            access_log_prefix=f"{construct_id.lower()}/" if self._access_log_bucket else None,
        )
        if self._access_log_bucket is None:
            acknowledge(
                bucket,
                "AwsSolutions-S1",
                f"This bucket holds {purpose} and is written only by this construct's Firehose role; pass "
                "access_log_bucket to LogForwarding to log its access as well.",
            )
        return bucket

    def _allow_bucket_writes(self, bucket: s3.IBucket) -> None:
        # The set Firehose documents for S3 delivery; not grant_read_write, which adds deletes.
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="DeliveryBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        self.firehose_role.add_to_policy(
            iam.PolicyStatement(
                sid="DeliveryObjects",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects("*")],
            )
        )

    def _alarms(self, settings: LogForwardingSettings) -> list[cloudwatch.Alarm]:
        stream_name = self.delivery_stream.ref
        http = settings.http_endpoint

        def metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=FIREHOSE_NAMESPACE,
                metric_name=name,
                dimensions_map={"DeliveryStreamName": stream_name},
                statistic=statistic,
                period=Duration.minutes(5),
            )

        destination = "HttpEndpoint" if http else "S3"
        buffering = http.buffering if http else settings.archive.buffering  # type: ignore[union-attr]
        retry = http.retry_seconds if http else 0
        # Records normally leave within the buffer interval; retries to the endpoint add up to
        # retry_seconds before a record goes to the backup bucket instead.
        freshness_seconds = max(900, buffering.interval_seconds + retry + 600)
        where = f"log forwarding of environment '{self._environment}'"
        alarms = [
            cloudwatch.Alarm(
                self,
                "FreshnessAlarm",
                metric=metric(f"DeliveryTo{destination}.DataFreshness", "Maximum"),
                threshold=freshness_seconds,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                # No data means no records were forwarded (quiet log groups, narrow filter patterns).
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"Forwarded logs are older than {freshness_seconds} s before reaching {destination} ({where}); "
                    "see the stream's error log group."
                ),
            ),
            cloudwatch.Alarm(
                self,
                "DeliveryFailureAlarm",
                metric=metric(f"DeliveryTo{destination}.Success", "Average"),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Deliveries to {destination} failed for 15 minutes ({where}).",
            ),
            cloudwatch.Alarm(
                self,
                "ThrottledAlarm",
                metric=metric("ThrottledRecords", "Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"Firehose throttled incoming log records ({where}); CloudWatch Logs retries for 24 h.",
            ),
        ]
        if http:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    "BackupFailureAlarm",
                    metric=metric("BackupToS3.Success", "Average"),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    alarm_description=f"Backups of forwarded logs to S3 failed for 15 minutes ({where}).",
                )
            )
        return alarms


def _buffering(buffering: Buffering) -> dict:
    return {"IntervalInSeconds": buffering.interval_seconds, "SizeInMBs": buffering.size_mib}


def _log_group_names(root: IConstruct) -> dict[str, str]:
    """Token of each ``LogGroup``'s name -> its physical name, for groups created with a fixed name."""
    names: dict[str, str] = {}
    for node in root.node.find_all():
        if isinstance(node, logs.LogGroup):
            cfn = node.node.default_child
            physical = getattr(cfn, "log_group_name", None)
            if physical and not Token.is_unresolved(physical):
                names[node.log_group_name] = physical
    return names


def _describe(name: str, owner: IConstruct) -> str:
    if not Token.is_unresolved(name):
        return name
    return json.dumps(Stack.of(owner).resolve(name))


@jsii.implements(IValidation)
class _SubscriptionFilterLimit:
    """At synth, counts the subscription filters of the whole app on each log group we subscribe."""

    def __init__(self, owner: Construct, ours: Mapping[str, logs.CfnSubscriptionFilter]) -> None:
        self._owner = owner
        self._ours = dict(ours)

    def validate(self) -> list[str]:
        root = self._owner.node.root
        physical = _log_group_names(root)

        def identity(subscription: logs.CfnSubscriptionFilter) -> str:
            name = subscription.log_group_name
            return physical.get(name, name)

        every = [node for node in root.node.find_all() if isinstance(node, logs.CfnSubscriptionFilter)]
        errors, reported = [], set()
        for key, ours in self._ours.items():
            target = identity(ours)
            if target in reported:
                continue
            sharing = [node for node in every if identity(node) == target]
            if len(sharing) > MAX_SUBSCRIPTION_FILTERS_PER_LOG_GROUP:
                reported.add(target)
                errors.append(
                    f"log group {_describe(target, ours)} would have {len(sharing)} subscription filters, but CloudWatch "
                    f"Logs allows at most {MAX_SUBSCRIPTION_FILTERS_PER_LOG_GROUP} per log group: "
                    f"{', '.join(node.node.path for node in sharing)}. Turn off its forwarding "
                    f"(logging.forwarding.{key}.enabled: false) or remove another filter."
                )
        return errors
