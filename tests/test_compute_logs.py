"""The compute-log bucket, its key, the cross-stack grant and the rendered ``compute_logs`` block."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, RemovalPolicy, Stack, Stage, Validations
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from dagster._config import process_config
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

from constructs_lib.config.aws_models import longest_region_name
from constructs_lib.compute_logs import (
    ENV_COMPUTE_LOG_BUCKET,
    MAX_ENVIRONMENT_NAME_LENGTH,
    ComputeLogBucket,
    compute_log_bucket_name,
    compute_log_key_alias,
    grant_compute_log_access,
    render_compute_logs_block,
)
from constructs_lib.config import ComputeLogSettings, load_environment
from tests.support import CONFIG_DIR, cfn_lint_problems, checked_app

KMS = ComputeLogSettings(
    encryption="kms",
    expiration_days=400,
    versioned=True,
    noncurrent_version_expiration_days=30,
    prefix="compute-logs",
    access_logging=True,
)
S3_MANAGED = ComputeLogSettings(
    encryption="s3_managed", expiration_days=14, prefix="run-logs/stdio", upload_interval_seconds=None, access_logging=False
)
ACK_KEY = Validations.ACKNOWLEDGED_RULES_METADATA_KEY


def name_expression(environment: str) -> dict:
    return {"Fn::Join": ["-", [f"dagster-{environment}-compute-logs", {"Ref": "AWS::AccountId"}, {"Ref": "AWS::Region"}]]}


class Built:
    def __init__(self, outdir):
        self.app = checked_app(outdir)
        prod, dev = Stage(self.app, "prod"), Stage(self.app, "dev")
        self.prod_storage = Stack(prod, "storage")
        self.kms = ComputeLogBucket(
            self.prod_storage, "ComputeLogs", settings=KMS, environment_name="prod", removal_policy=RemovalPolicy.RETAIN
        )
        self.dev_storage = Stack(dev, "storage")
        self.s3 = ComputeLogBucket(
            self.dev_storage, "ComputeLogs", settings=S3_MANAGED, environment_name="dev",
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The platform stack knows the bucket and key by name only, as the real stacks do.
        self.prod_platform = Stack(prod, "platform")
        self.agent_role = iam.Role(self.prod_platform, "AgentRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        self.policy = grant_compute_log_access(
            self.agent_role,
            bucket_name=compute_log_bucket_name("prod"),
            prefix=KMS.prefix,
            kms_key_alias=compute_log_key_alias("prod"),
        )
        self.dev_platform = Stack(dev, "platform")
        self.run_role = iam.Role(self.dev_platform, "RunRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
        grant_compute_log_access(
            self.run_role, bucket_name=compute_log_bucket_name("dev"), prefix=S3_MANAGED.prefix, kms_key_alias=None
        )
        assembly = self.app.synth()  # cdk-nag runs here and raises on any unacknowledged finding
        self.templates = {
            (stage, stack.stack_name.split("-", 1)[1]): stack.template
            for stage in ("prod", "dev")
            for stack in assembly.get_nested_assembly(f"assembly-{stage}").stacks
        }

    def template(self, stage: str, stack: str) -> Template:
        return Template.from_json(self.templates[(stage, stack)])

    def resources(self, stage: str, stack: str, resource_type: str) -> dict[str, dict]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[(stage, stack)]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def compute_log_bucket(self, stage: str) -> dict:
        [bucket] = [r for r in self.resources(stage, "storage", "AWS::S3::Bucket").values() if "BucketName" in r["Properties"]]
        return bucket


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("cdk.out"))


def acknowledgments(construct) -> dict[str, str]:
    """cdk-nag acknowledgments recorded on ``construct`` and its children: rule -> reason."""
    return {
        rule.removeprefix("Annotation::"): reason
        for node in construct.node.find_all()
        for entry in node.node.metadata
        if entry.type == ACK_KEY
        for rule, reason in entry.data.items()
    }


def policy_statements(built: Built, stage: str) -> list[dict]:
    [policy] = built.resources(stage, "platform", "AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


# --- the bucket ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_bucket_has_the_deterministic_name_other_stacks_import(built, stage):
    assert built.compute_log_bucket(stage)["Properties"]["BucketName"] == name_expression(stage)


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_bucket_policy_denies_anything_but_tls(built, stage):
    [logical_id] = [i for i, r in built.resources(stage, "storage", "AWS::S3::Bucket").items() if "BucketName" in r["Properties"]]
    arn = {"Fn::GetAtt": [logical_id, "Arn"]}
    built.template(stage, "storage").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": logical_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Resource": [arn, {"Fn::Join": ["", [arn, "/*"]]}],
                        },
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}}}
                        ),
                    ]
                )
            },
        },
    )


def test_lifecycle_expires_logs_under_the_prefix_and_old_versions_when_versioned(built):
    rules = built.compute_log_bucket("prod")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules == [
        {
            "Id": "ExpireComputeLogs",
            "Prefix": "compute-logs/",
            "ExpirationInDays": 400,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            "Status": "Enabled",
        },
        {
            "Id": "AbortIncompleteUploads",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            "ExpiredObjectDeleteMarker": True,
            "Status": "Enabled",
        },
    ]
    assert built.compute_log_bucket("prod")["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_unversioned_bucket_has_no_version_rules(built):
    bucket = built.compute_log_bucket("dev")["Properties"]
    assert "VersioningConfiguration" not in bucket
    assert bucket["LifecycleConfiguration"]["Rules"] == [
        {"Id": "ExpireComputeLogs", "Prefix": "run-logs/stdio/", "ExpirationInDays": 14, "Status": "Enabled"},
        {"Id": "AbortIncompleteUploads", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}, "Status": "Enabled"},
    ]


def test_kms_bucket_uses_the_customer_managed_key_with_a_bucket_key(built):
    [key_id] = built.resources("prod", "storage", "AWS::KMS::Key")
    assert built.compute_log_bucket("prod")["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                },
            }
        ]
    }


def test_key_rotates_and_carries_the_alias_the_grants_match(built):
    template = built.template("prod", "storage")
    [key_id] = built.resources("prod", "storage", "AWS::KMS::Key")
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::KMS::Alias",
        {"AliasName": "alias/dagster-platform/prod/compute-logs", "TargetKeyId": {"Fn::GetAtt": [key_id, "Arn"]}},
    )
    assert built.kms.key_alias_name == compute_log_key_alias("prod") == "alias/dagster-platform/prod/compute-logs"


def test_s3_managed_bucket_has_no_key(built):
    built.template("dev", "storage").resource_count_is("AWS::KMS::Key", 0)
    assert built.compute_log_bucket("dev")["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert built.s3.key is None and built.s3.key_alias_name is None


@pytest.mark.parametrize("stage", ["prod", "dev"])
def test_every_bucket_blocks_public_access_and_acls(built, stage):
    for bucket in built.resources(stage, "storage", "AWS::S3::Bucket").values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_access_logs_go_to_an_encrypted_expiring_log_bucket_by_policy(built):
    buckets = built.resources("prod", "storage", "AWS::S3::Bucket")
    [(log_id, log_bucket)] = [(i, r) for i, r in buckets.items() if "BucketName" not in r["Properties"]]
    [bucket_id] = [i for i, r in buckets.items() if "BucketName" in r["Properties"]]
    assert buckets[bucket_id]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_id},
        "LogFilePrefix": "compute-log-bucket/",
    }
    assert log_bucket["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert log_bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 400
    built.template("prod", "storage").has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": log_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Condition": Match.object_like(
                                    {"ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [bucket_id, "Arn"]}}}
                                ),
                            }
                        ),
                    ]
                )
            },
        },
    )
    assert built.kms.access_log_bucket is not None


def test_access_logging_off_is_acknowledged_on_the_bucket_naming_the_switch(built):
    assert "LoggingConfiguration" not in built.compute_log_bucket("dev")["Properties"]
    assert len(built.resources("dev", "storage", "AWS::S3::Bucket")) == 1
    acknowledged = acknowledgments(built.s3.bucket)
    assert "storage.compute_logs.access_logging" in acknowledged["AwsSolutions-S1"]
    assert built.s3.access_log_bucket is None


def test_retained_environment_keeps_bucket_and_key_and_has_no_auto_delete(built):
    template = built.template("prod", "storage")
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in built.resources("prod", "storage", resource_type).values():
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)


def test_destroyed_environment_deletes_and_empties_the_bucket(built):
    bucket = built.compute_log_bucket("dev")
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Delete", "Delete")
    built.template("dev", "storage").resource_count_is("Custom::S3AutoDeleteObjects", 1)


def test_destroyed_kms_key_has_the_shortest_deletion_window():
    app = App()
    stack = Stack(app, "storage")
    ComputeLogBucket(stack, "Logs", settings=KMS, environment_name="dev", removal_policy=RemovalPolicy.DESTROY)
    Template.from_stack(stack).has_resource(
        "AWS::KMS::Key", {"DeletionPolicy": "Delete", "Properties": Match.object_like({"PendingWindowInDays": 7})}
    )


# --- the grant, from the stack that only knows names ---------------------------------------------


def test_grant_allows_objects_under_the_prefix_listing_of_the_prefix_and_the_aliased_key_via_s3(built):
    bucket_arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", name_expression("prod")]]}
    assert policy_statements(built, "prod") == [
        {
            "Sid": "ComputeLogObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", name_expression("prod"), "/compute-logs/*"]]},
        },
        {
            "Sid": "ComputeLogList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": "compute-logs/*"}},
        },
        {
            "Sid": "ComputeLogKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":kms:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":key/*"],
                ]
            },
            "Condition": {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/dagster-platform/prod/compute-logs"},
                "StringEquals": {"kms:ViaService": {"Fn::Join": ["", ["s3.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}},
            },
        },
    ]


def test_grant_without_kms_has_no_key_statement(built):
    assert [s["Sid"] for s in policy_statements(built, "dev")] == ["ComputeLogObjects", "ComputeLogList"]
    assert policy_statements(built, "dev")[0]["Resource"]["Fn::Join"][1][-1] == "/run-logs/stdio/*"


def test_grant_is_a_policy_of_the_role_and_references_nothing_from_the_storage_stack(built):
    [policy] = built.resources("prod", "platform", "AWS::IAM::Policy").values()
    [role_id] = built.resources("prod", "platform", "AWS::IAM::Role")
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    text = json.dumps(built.templates[("prod", "platform")])
    assert "Fn::ImportValue" not in text and "Outputs" not in built.templates[("prod", "storage")]


def test_grant_acknowledges_exactly_its_own_wildcards(built):
    assert set(acknowledgments(built.policy)) == {
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::dagster-prod-compute-logs-<AWS::AccountId>-<AWS::Region>/compute-logs/*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]",
    }


def test_grant_acknowledgment_does_not_cover_other_wildcards_of_the_same_role(tmp_path):
    app = checked_app(tmp_path)
    stack = Stack(Stage(app, "probe"), "platform")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    grant_compute_log_access(role, bucket_name=compute_log_bucket_name("probe"), prefix="logs", kms_key_alias=None)
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::elsewhere/*"]))
    from constructs_lib.synth_gate import SynthChecksFailed  # what attach_platform_checks makes synth raise

    with pytest.raises(SynthChecksFailed, match=r"AwsSolutions-IAM5\[Resource::arn:aws:s3:::elsewhere/\*\]"):
        app.synth()


def test_grant_to_a_grantee_that_owns_a_role_attaches_the_policy_to_that_role():
    from aws_cdk import aws_lambda as lambda_

    app = App()
    stack = Stack(app, "platform")
    function = lambda_.Function(
        stack, "Reader", runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None"),
    )
    policy = grant_compute_log_access(function, bucket_name="bucket", prefix="logs", kms_key_alias=None)
    assert policy is not None and policy.node.scope.node.path == function.role.node.path
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy", {"Roles": [{"Ref": stack.get_logical_id(function.role.node.default_child)}]}
    )


def test_granting_a_shared_role_twice_is_idempotent_but_a_different_grant_is_refused():
    app = App()
    stack = Stack(app, "platform")
    role = iam.Role(stack, "WorkloadTaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    grant = dict(bucket_name=compute_log_bucket_name("dev"), prefix="compute-logs", kms_key_alias=None)
    first = grant_compute_log_access(role, **grant)
    assert grant_compute_log_access(role, **grant) is first
    Template.from_stack(stack).resource_count_is("AWS::IAM::Policy", 1)
    with pytest.raises(ValueError, match="already has compute-log access"):
        grant_compute_log_access(role, **{**grant, "prefix": "other"})


def test_grant_to_a_principal_without_a_policy_fails_loudly():
    with pytest.raises(ValueError, match="no policy to add to"):
        grant_compute_log_access(
            iam.AccountPrincipal("123456789012"), bucket_name="bucket", prefix="logs", kms_key_alias=None
        )


# --- the rendered block ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def block_env(monkeypatch):
    """What Fargate and the agent's task definition put in every task's environment."""
    monkeypatch.setenv(ENV_COMPUTE_LOG_BUCKET, "dagster-prod-compute-logs-123456789012-eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def validated(block: dict) -> dict:
    result = process_config(S3ComputeLogManager.config_type(), block["config"])
    assert result.success, [error.message for error in result.errors]
    return result.value


def test_kms_block_is_exact_and_valid_for_dagster_aws():
    block = render_compute_logs_block(KMS, kms_key_alias="alias/dagster-platform/prod/compute-logs")
    assert block == {
        "module": "dagster_aws.s3.compute_log_manager",
        "class": "S3ComputeLogManager",
        "config": {
            "bucket": {"env": ENV_COMPUTE_LOG_BUCKET},
            "prefix": "compute-logs",
            "region": {"env": "AWS_REGION"},
            "show_url_only": False,
            "upload_interval": 30,
            "upload_extra_args": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/dagster-platform/prod/compute-logs"},
        },
    }
    validated(block)


def test_s3_managed_block_omits_kms_and_an_unset_upload_interval():
    block = render_compute_logs_block(S3_MANAGED, kms_key_alias=None)
    assert "upload_extra_args" not in block["config"] and "upload_interval" not in block["config"]
    value = validated(block)
    assert value["upload_interval"] is None
    assert (value["bucket"], value["region"]) == ("dagster-prod-compute-logs-123456789012-eu-west-1", "eu-west-1")


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_example_environments_render_valid_blocks(environment):
    settings = load_environment(CONFIG_DIR / f"{environment}.yaml").storage.compute_logs
    alias = compute_log_key_alias(environment) if settings.encryption == "kms" else None
    block = render_compute_logs_block(settings, kms_key_alias=alias)
    validated(block)
    assert ENV_COMPUTE_LOG_BUCKET == "DAGSTER_PLATFORM_COMPUTE_LOG_BUCKET"


def test_schema_check_is_live_an_unknown_key_fails():
    block = render_compute_logs_block(S3_MANAGED, kms_key_alias=None)
    block["config"]["upload_every"] = 5
    assert not process_config(S3ComputeLogManager.config_type(), block["config"]).success


def test_construct_exposes_the_block_it_renders(built):
    assert built.kms.config_block == render_compute_logs_block(KMS, kms_key_alias=compute_log_key_alias("prod"))
    assert built.s3.config_block == render_compute_logs_block(S3_MANAGED, kms_key_alias=None)
    assert built.kms.prefix == "compute-logs"


@pytest.mark.parametrize(
    ("settings", "alias", "message"),
    [(KMS, None, "kms_key_alias is required"), (S3_MANAGED, "alias/x", "encryption: s3_managed")],
)
def test_block_refuses_inconsistent_encryption(settings, alias, message):
    with pytest.raises(ValueError, match=message):
        render_compute_logs_block(settings, kms_key_alias=alias)


def test_names_are_deterministic_and_fit_s3_limits():
    assert compute_log_key_alias("staging") == "alias/dagster-platform/staging/compute-logs"
    longest = "e" * MAX_ENVIRONMENT_NAME_LENGTH
    region = "r" * longest_region_name()  # the name must fit in every region
    assert len(f"dagster-{longest}-compute-logs-123456789012-{region}") == 63
    compute_log_bucket_name(longest)
    with pytest.raises(ValueError, match="too long"):
        compute_log_bucket_name(longest + "x")


def test_access_log_bucket_with_logging_off_is_refused():
    app = App()
    stack = Stack(app, "s")
    other = ComputeLogBucket(stack, "A", settings=KMS, environment_name="a", removal_policy=RemovalPolicy.RETAIN)
    with pytest.raises(ValueError, match="access_logging is false"):
        ComputeLogBucket(
            stack, "B", settings=S3_MANAGED, environment_name="b", removal_policy=RemovalPolicy.RETAIN,
            access_log_bucket=other.access_log_bucket,
        )


# --- checks ---------------------------------------------------------------------------------------


def test_templates_are_cfn_lint_clean(built):
    templates = {f"{stage}/{stack}": template for (stage, stack), template in built.templates.items()}
    assert cfn_lint_problems(templates) == []
