"""Log forwarding through Firehose: one stream per destination combination, filters, roles, alarms."""

from __future__ import annotations

import base64
import gzip
import json

import jsii
import pytest
from aws_cdk import App, RemovalPolicy, Stack, Stage, Validations
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from constructs_lib.config import LogForwardingSettings
from constructs_lib.log_forwarding import (
    ERROR_OUTPUT_PREFIX,
    LogForwarding,
    archive_prefix,
    cloudwatch_logs_processing,
)
from tests.support import cfn_lint_problems, checked_app

ACK_KEY = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
WORKLOAD_PATTERN = "?WARN ?ERROR ?CRITICAL ?Traceback"
HTTP = {
    "name": "datadog",
    "url": "https://aws-kinesis-http-intake.logs.datadoghq.eu/v1/input",
    "api_key_secret": "dagster/{env}/datadog-api-key",
    "buffering": {"interval_seconds": 60, "size_mib": 4},
    "retry_seconds": 600,
}
ARCHIVE = {"expiration_days": 400, "buffering": {"interval_seconds": 120, "size_mib": 64}}
#: Destination combination -> (settings, removal policy). "archive" also keeps one foreign filter
#: on the agent group, so that group ends with exactly the two filters CloudWatch Logs allows.
CASES = {
    "archive": (
        {"archive": ARCHIVE, "workloads": {"filter_pattern": WORKLOAD_PATTERN}},
        RemovalPolicy.DESTROY,
    ),
    "http": (
        {"archive": None, "http_endpoint": HTTP, "agent": {"enabled": False}},
        RemovalPolicy.RETAIN,
    ),
    "both": (
        {"archive": ARCHIVE, "http_endpoint": HTTP, "agent": {"filter_pattern": ""}},
        RemovalPolicy.RETAIN,
    ),
}


def settings_for(case: str) -> LogForwardingSettings:
    raw = json.loads(json.dumps(CASES[case][0]).replace("{env}", case))
    return LogForwardingSettings.model_validate(raw)


def storage_and_observability(app: App, environment: str):
    """The log groups live in a storage stack; forwarding imports them by name, like the real stacks."""
    stage = Stage(app, environment)
    storage = Stack(stage, "storage")
    groups = {
        key: logs.LogGroup(storage, f"{key}Logs", log_group_name=f"/dagster-platform/{environment}/{key}",
                           retention=logs.RetentionDays.ONE_WEEK)
        for key in ("agent", "workloads")
    }
    observability = Stack(stage, "observability")
    imported = {
        key: logs.LogGroup.from_log_group_name(observability, f"{key}Import", f"/dagster-platform/{environment}/{key}")
        for key in ("agent", "workloads")
    }
    return storage, groups, observability, imported


class Built:
    def __init__(self, outdir):
        self.app = checked_app(outdir)
        self.forwarding: dict[str, LogForwarding] = {}
        self.topic_arns = {}
        for case, (_, removal) in CASES.items():
            storage, groups, observability, imported = storage_and_observability(self.app, case)
            if case == "archive":
                # Someone else's filter on the agent group (say, a security tool): ours is the second.
                logs.CfnSubscriptionFilter(
                    storage, "SecurityTool", log_group_name=groups["agent"].log_group_name, filter_pattern="",
                    destination_arn="arn:aws:lambda:eu-west-1:123456789012:function:security-tool",
                )
            forwarding = LogForwarding(
                observability, "LogForwarding", settings=settings_for(case), environment_name=case,
                log_groups=imported, removal_policy=removal,
            )
            topic = sns.Topic.from_topic_arn(observability, "Alarms", f"arn:aws:sns:eu-west-1:123456789012:{case}-alarms")
            forwarding.add_alarm_action(cloudwatch_actions.SnsAction(topic))
            self.forwarding[case] = forwarding
        assembly = self.app.synth()  # cdk-nag and the subscription-filter limit run here
        self.templates = {
            (case, stack.stack_name.split("-", 1)[1]): stack.template
            for case in CASES
            for stack in assembly.get_nested_assembly(f"assembly-{case}").stacks
        }

    def template(self, case: str) -> Template:
        return Template.from_json(self.templates[(case, "observability")])

    def resources(self, case: str, resource_type: str) -> dict[str, dict]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[(case, "observability")]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def stream(self, case: str) -> tuple[str, dict]:
        [(logical_id, stream)] = self.resources(case, "AWS::KinesisFirehose::DeliveryStream").items()
        return logical_id, stream["Properties"]

    def logical_id(self, case: str, construct) -> str:
        return self.forwarding[case].delivery_stream.stack.get_logical_id(construct.node.default_child)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("cdk.out"))


@jsii.implements(logs.ILogSubscriptionDestination)
class ExistingFunction:
    """A subscription destination that needs no resources: an existing Lambda function by ARN."""

    def bind(self, scope, source_log_group):
        return logs.LogSubscriptionDestinationConfig(arn="arn:aws:lambda:eu-west-1:123456789012:function:existing")


def getatt(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# --- the stream per destination combination ------------------------------------------------------


def test_archive_only_is_one_extended_s3_stream_with_native_cloudwatch_logs_processing(built):
    _, stream = built.stream("archive")
    assert set(stream) == {
        "DeliveryStreamType", "DeliveryStreamEncryptionConfigurationInput", "ExtendedS3DestinationConfiguration"
    }
    s3 = stream["ExtendedS3DestinationConfiguration"]
    archive_id = built.logical_id("archive", built.forwarding["archive"].archive_bucket)
    assert s3["BucketARN"] == getatt(archive_id)
    assert s3["Prefix"] == "logs/archive/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
    assert s3["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 120, "SizeInMBs": 64}
    assert s3["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {"Type": "CloudWatchLogProcessing", "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}]},
            {"Type": "AppendDelimiterToRecord"},
        ],
    }
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {"KeyType": "AWS_OWNED_CMK"}
    assert built.forwarding["archive"].backup_bucket is None


def test_http_only_backs_up_failed_records_to_its_own_bucket(built):
    _, stream = built.stream("http")
    assert set(stream) == {
        "DeliveryStreamType", "DeliveryStreamEncryptionConfigurationInput", "HttpEndpointDestinationConfiguration"
    }
    http = stream["HttpEndpointDestinationConfiguration"]
    forwarding = built.forwarding["http"]
    assert forwarding.archive_bucket is None
    assert http["S3BackupMode"] == "FailedDataOnly"
    assert http["S3Configuration"]["BucketARN"] == getatt(built.logical_id("http", forwarding.backup_bucket))
    assert http["S3Configuration"]["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 5}
    assert http["EndpointConfiguration"] == {"Name": "datadog", "Url": HTTP["url"]}
    assert http["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 4}
    assert http["RetryOptions"] == {"DurationInSeconds": 600}
    assert http["ProcessingConfiguration"] == cloudwatch_logs_processing(message_extraction=True, newline_delimited=False)


def test_both_is_one_http_stream_that_archives_all_data(built):
    [(_, stream)] = built.resources("both", "AWS::KinesisFirehose::DeliveryStream").items()
    http = stream["Properties"]["HttpEndpointDestinationConfiguration"]
    forwarding = built.forwarding["both"]
    assert forwarding.backup_bucket is forwarding.archive_bucket
    assert http["S3BackupMode"] == "AllData"
    assert http["S3Configuration"] == {
        "BucketARN": getatt(built.logical_id("both", forwarding.archive_bucket)),
        "RoleARN": getatt(built.logical_id("both", forwarding.firehose_role)),
        "Prefix": archive_prefix("both"),
        "ErrorOutputPrefix": ERROR_OUTPUT_PREFIX,
        "CompressionFormat": "GZIP",
        "BufferingHints": {"IntervalInSeconds": 120, "SizeInMBs": 64},
        "CloudWatchLoggingOptions": {
            "Enabled": True,
            "LogGroupName": {"Ref": built.logical_id("both", forwarding.error_log_group)},
            "LogStreamName": "BackupDelivery",
        },
    }
    assert len(built.resources("both", "AWS::S3::Bucket")) == 1


@pytest.mark.parametrize("case", ["http", "both"])
def test_api_key_comes_from_secrets_manager_and_never_from_the_template(built, case):
    _, stream = built.stream(case)
    http = stream["HttpEndpointDestinationConfiguration"]
    role_id = built.logical_id(case, built.forwarding[case].firehose_role)
    assert http["SecretsManagerConfiguration"] == {
        "Enabled": True,
        "SecretARN": {
            "Fn::Join": [
                "",
                [
                    "arn:", {"Ref": "AWS::Partition"}, ":secretsmanager:", {"Ref": "AWS::Region"}, ":",
                    {"Ref": "AWS::AccountId"}, f":secret:dagster/{case}/datadog-api-key",
                ],
            ]
        },
        "RoleARN": getatt(role_id),
    }
    assert "AccessKey" not in json.dumps(built.templates[(case, "observability")])


def test_every_destination_logs_its_errors_to_a_retained_log_group(built):
    for case in CASES:
        forwarding = built.forwarding[case]
        group_id = built.logical_id(case, forwarding.error_log_group)
        [group] = [g for i, g in built.resources(case, "AWS::Logs::LogGroup").items() if i == group_id]
        assert group["Properties"]["RetentionInDays"] == 30
        _, stream = built.stream(case)
        [destination] = [v for k, v in stream.items() if k.endswith("DestinationConfiguration")]
        assert destination["CloudWatchLoggingOptions"] == {
            "Enabled": True, "LogGroupName": {"Ref": group_id}, "LogStreamName": "DestinationDelivery"
        }
        streams = {s["Properties"]["LogStreamName"] for s in built.resources(case, "AWS::Logs::LogStream").values()}
        assert streams == ({"DestinationDelivery"} if case == "archive" else {"DestinationDelivery", "BackupDelivery"})


# --- subscription filters ----------------------------------------------------------------------------


def test_one_filter_per_enabled_log_group_with_its_pattern(built):
    expected = {
        "archive": {"/dagster-platform/archive/agent": "", "/dagster-platform/archive/workloads": WORKLOAD_PATTERN},
        "http": {"/dagster-platform/http/workloads": ""},
        "both": {"/dagster-platform/both/agent": "", "/dagster-platform/both/workloads": ""},
    }
    for case, patterns in expected.items():
        stream_id, _ = built.stream(case)
        role_id = built.logical_id(case, built.forwarding[case].log_role)
        filters = built.resources(case, "AWS::Logs::SubscriptionFilter").values()
        assert {f["Properties"]["LogGroupName"]: f["Properties"]["FilterPattern"] for f in filters} == patterns
        for subscription in filters:
            assert subscription["Properties"]["DestinationArn"] == getatt(stream_id)
            assert subscription["Properties"]["RoleArn"] == getatt(role_id)
            assert role_id in subscription["DependsOn"]
        assert set(built.forwarding[case].subscription_filters) == {name.rsplit("/", 1)[1] for name in patterns}


def test_cloudwatch_logs_role_may_only_put_records_into_this_stream(built):
    for case in CASES:
        forwarding = built.forwarding[case]
        stream_id, _ = built.stream(case)
        role = built.resources(case, "AWS::IAM::Role")[built.logical_id(case, forwarding.log_role)]
        [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
        assert trust["Condition"] == {
            "StringLike": {
                "aws:SourceArn": {
                    "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"}, ":",
                                      {"Ref": "AWS::AccountId"}, ":*"]]
                }
            }
        }
        [policy] = [p for p in built.resources(case, "AWS::IAM::Policy").values()
                    if p["Properties"]["Roles"] == [{"Ref": built.logical_id(case, forwarding.log_role)}]]
        assert policy["Properties"]["PolicyDocument"]["Statement"] == [
            {
                "Sid": "PutForwardedLogs",
                "Effect": "Allow",
                "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"],
                "Resource": getatt(stream_id),
            }
        ]


def firehose_statements(built: Built, case: str) -> dict[str, dict]:
    forwarding = built.forwarding[case]
    [policy] = [p for p in built.resources(case, "AWS::IAM::Policy").values()
                if p["Properties"]["Roles"] == [{"Ref": built.logical_id(case, forwarding.firehose_role)}]]
    return {s.get("Sid", s["Action"][0]): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


@pytest.mark.parametrize("case", list(CASES))
def test_firehose_role_writes_only_its_bucket_and_error_streams_and_reads_only_its_secret(built, case):
    forwarding = built.forwarding[case]
    bucket = forwarding.backup_bucket or forwarding.archive_bucket
    bucket_arn = getatt(built.logical_id(case, bucket))
    statements = firehose_statements(built, case)
    assert statements["DeliveryBucket"]["Action"] == ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    assert statements["DeliveryBucket"]["Resource"] == bucket_arn
    assert statements["DeliveryObjects"]["Action"] == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert statements["DeliveryObjects"]["Resource"] == {"Fn::Join": ["", [bucket_arn, "/*"]]}
    error_streams = statements["WriteDeliveryErrors"]["Resource"]
    error_streams = error_streams if isinstance(error_streams, list) else [error_streams]
    assert [r["Fn::Join"][1][-1] for r in error_streams] == (
        [":log-stream:DestinationDelivery"] if case == "archive"
        else [":log-stream:BackupDelivery", ":log-stream:DestinationDelivery"]
    )
    assert statements["WriteDeliveryErrors"]["Action"] == "logs:PutLogEvents"
    actions = json.dumps([s["Action"] for s in statements.values()])
    assert "Delete" not in actions and "s3:*" not in actions
    secret = statements.get("secretsmanager:DescribeSecret")
    if case == "archive":
        assert secret is None and len(statements) == 3
    else:
        assert secret["Resource"]["Fn::Join"][1][-1] == f":secret:dagster/{case}/datadog-api-key-??????"
        assert len(statements) == 4
    role = built.resources(case, "AWS::IAM::Role")[built.logical_id(case, forwarding.firehose_role)]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
    [stream] = built.resources(case, "AWS::KinesisFirehose::DeliveryStream").values()
    assert built.logical_id(case, forwarding.firehose_role) in stream["DependsOn"]  # role and policy exist first


# --- buckets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "days", "policy"), [("archive", 400, "Delete"), ("http", 90, "Retain"), ("both", 400, "Retain")])
def test_buckets_are_private_tls_only_encrypted_and_expire(built, case, days, policy):
    template = built.template(case)
    [(bucket_id, bucket)] = built.resources(case, "AWS::S3::Bucket").items()
    properties = bucket["Properties"]
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["LifecycleConfiguration"]["Rules"] == [
        {"Id": "ExpireForwardedLogs", "ExpirationInDays": days, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
         "Status": "Enabled"}
    ]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == (policy, policy)
    template.resource_count_is("Custom::S3AutoDeleteObjects", 1 if policy == "Delete" else 0)
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_missing_access_logging_is_acknowledged_on_each_bucket(built):
    for case in CASES:
        forwarding = built.forwarding[case]
        bucket = forwarding.backup_bucket or forwarding.archive_bucket
        reasons = {
            rule.removeprefix("Annotation::"): reason
            for node in bucket.node.find_all()
            for entry in node.node.metadata
            if entry.type == ACK_KEY
            for rule, reason in entry.data.items()
        }
        assert "access_log_bucket" in reasons["AwsSolutions-S1"]


def test_buckets_log_access_to_a_given_access_log_bucket_and_then_need_no_acknowledgment(tmp_path):
    from aws_cdk import aws_s3 as s3

    app = checked_app(tmp_path)
    storage, _, observability, imported = storage_and_observability(app, "dev")
    access_logs = s3.Bucket(
        observability, "AccessLogs", enforce_ssl=True, encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    )
    forwarding = LogForwarding(
        observability, "LogForwarding", settings=settings_for("http"), environment_name="dev", log_groups=imported,
        removal_policy=RemovalPolicy.RETAIN, access_log_bucket=access_logs,
    )
    template = Template.from_stack(observability)  # synth with cdk-nag: no S1 finding left to acknowledge
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {"LoggingConfiguration": {"DestinationBucketName": {"Ref": observability.get_logical_id(access_logs.node.default_child)},
                                  "LogFilePrefix": "failedrecords/"}},
    )
    assert not any(entry.type == ACK_KEY for entry in forwarding.backup_bucket.node.metadata)


def test_message_extraction_can_be_turned_off_to_keep_log_group_and_stream_names():
    processing = cloudwatch_logs_processing(message_extraction=False, newline_delimited=True)
    assert [p["Type"] for p in processing["Processors"]] == ["Decompression", "AppendDelimiterToRecord"]


# --- alarms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "metrics"),
    [
        ("archive", {"DeliveryToS3.DataFreshness", "DeliveryToS3.Success", "ThrottledRecords"}),
        ("http", {"DeliveryToHttpEndpoint.DataFreshness", "DeliveryToHttpEndpoint.Success", "ThrottledRecords", "BackupToS3.Success"}),
        ("both", {"DeliveryToHttpEndpoint.DataFreshness", "DeliveryToHttpEndpoint.Success", "ThrottledRecords", "BackupToS3.Success"}),
    ],
)
def test_delivery_alarms_watch_this_stream_treat_silence_as_ok_and_notify(built, case, metrics):
    stream_id, _ = built.stream(case)
    alarms = built.resources(case, "AWS::CloudWatch::Alarm").values()
    assert {a["Properties"]["MetricName"] for a in alarms} == metrics
    assert len(built.forwarding[case].alarms) == len(metrics)
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["Namespace"] == "AWS/Firehose"
        assert properties["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": {"Ref": stream_id}}]
        assert properties["TreatMissingData"] == "notBreaching"
        assert properties["AlarmActions"] == [f"arn:aws:sns:eu-west-1:123456789012:{case}-alarms"]


def test_freshness_threshold_allows_buffering_and_endpoint_retries(built):
    thresholds = {
        case: next(a["Properties"]["Threshold"] for a in built.resources(case, "AWS::CloudWatch::Alarm").values()
                   if a["Properties"]["MetricName"].endswith("DataFreshness"))
        for case in CASES
    }
    assert thresholds == {"archive": 900, "http": 60 + 600 + 600, "both": 60 + 600 + 600}


# --- the two-filter limit --------------------------------------------------------------------------


def test_a_third_filter_on_a_log_group_fails_synth_naming_the_group(tmp_path):
    app = App(outdir=str(tmp_path))
    storage, groups, observability, imported = storage_and_observability(app, "dev")
    # Two filters already: one on the LogGroup object, one by literal name from another stack.
    logs.SubscriptionFilter(
        storage, "Existing", log_group=groups["agent"], filter_pattern=logs.FilterPattern.all_events(),
        destination=ExistingFunction(),
    )
    logs.CfnSubscriptionFilter(
        observability, "Other", log_group_name="/dagster-platform/dev/agent", filter_pattern="",
        destination_arn="arn:aws:lambda:eu-west-1:123456789012:function:other",
    )
    LogForwarding(
        observability, "LogForwarding", settings=LogForwardingSettings(), environment_name="dev",
        log_groups=imported, removal_policy=RemovalPolicy.DESTROY,
    )
    with pytest.raises(RuntimeError) as error:
        app.synth()
    message = str(error.value)
    assert "log group /dagster-platform/dev/agent would have 3 subscription filters" in message
    assert "logging.forwarding.agent.enabled: false" in message
    assert "workloads" not in message.split("log group")[1].split("would")[0]


def test_our_two_filters_on_one_group_count_against_the_same_limit(tmp_path):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "observability")
    shared = logs.LogGroup.from_log_group_name(stack, "Shared", "/shared")
    logs.CfnSubscriptionFilter(stack, "Other", log_group_name="/shared", filter_pattern="",
                               destination_arn="arn:aws:lambda:eu-west-1:123456789012:function:other")
    LogForwarding(stack, "LogForwarding", settings=LogForwardingSettings(), environment_name="dev",
                  log_groups={"agent": shared, "workloads": shared}, removal_policy=RemovalPolicy.DESTROY)
    with pytest.raises(RuntimeError, match="log group /shared would have 3 subscription filters"):
        app.synth()


@pytest.mark.parametrize(
    ("groups", "message"),
    [({"agent": None}, "forwarding is enabled for workloads"), ({"agent": None, "workloads": None, "other": None}, "unknown keys")],
)
def test_log_groups_must_match_the_settings(groups, message):
    app = App()
    stack = Stack(app, "s")
    imported = {key: logs.LogGroup.from_log_group_name(stack, key, f"/{key}") for key in groups}
    with pytest.raises(ValueError, match=message):
        LogForwarding(stack, "F", settings=LogForwardingSettings(), environment_name="dev", log_groups=imported,
                      removal_policy=RemovalPolicy.DESTROY)


# --- what the stream receives ------------------------------------------------------------------------


def subscription_record(document: dict) -> bytes:
    """One Firehose record as a CloudWatch Logs subscription puts it: gzip-compressed JSON
    (base64 only on the wire of PutRecordBatch)."""
    return gzip.compress(json.dumps(document).encode())


def test_subscription_records_are_gzip_json_which_firehose_decodes_natively():
    """No code of ours transforms CloudWatch Logs payloads: Firehose's ``Decompression`` processor
    (CompressionFormat GZIP) unzips each record and ``CloudWatchLogProcessing`` with
    DataMessageExtraction delivers only the ``message`` of each log event. So there is nothing of
    ours to run against a payload; this test pins the assumption our processing configuration
    rests on (CloudWatch Logs records are gzip, matching the processor's format) with a realistic
    DATA_MESSAGE and the CONTROL_MESSAGE CloudWatch Logs sends to check the destination."""
    data = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/dagster-platform/prod/workloads",
        "logStream": "dagsterrun/run/2f6a1c9e-4b1d-4a8e-9d3b-6c7f1e2a9b10",
        "subscriptionFilters": ["dagster-prod-workloads-forwarding"],
        "logEvents": [
            {"id": "37906580893384561497154466486355283479541493043227328512", "timestamp": 1700000000000,
             "message": "2026-11-24 07:10:09 +0000 - dagster - ERROR - noisy - step failed"},
            {"id": "37906580893384561497154466486355283479541493043227328513", "timestamp": 1700000000001,
             "message": "Traceback (most recent call last):"},
        ],
    }
    control = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1700000000002,
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}],
    }
    processing = cloudwatch_logs_processing(message_extraction=True, newline_delimited=True)
    [decompression] = [p for p in processing["Processors"] if p["Type"] == "Decompression"]
    assert decompression["Parameters"] == [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]
    for document in (data, control):
        record = subscription_record(document)
        assert record[:2] == b"\x1f\x8b"  # gzip, the format the Decompression processor is told to expect
        wire = base64.b64encode(record)  # how PutRecordBatch carries it
        assert json.loads(gzip.decompress(base64.b64decode(wire))) == document


# --- checks ----------------------------------------------------------------------------------------


def test_templates_are_cfn_lint_clean(built):
    templates = {f"{case}/{stack}": template for (case, stack), template in built.templates.items()}
    assert cfn_lint_problems(templates) == []
