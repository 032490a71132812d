"""Compute-log storage: the S3 bucket Dagster's ``S3ComputeLogManager`` writes run stdout/stderr to.

The bucket lives in the stateful storage stack; the agent, code servers and runs live in the
stateless platform stack and reach it by its deterministic name (built from pseudo parameters,
so each stack resolves the same name in its own account and region) and, for SSE-KMS, by the
key's alias. No CloudFormation export ties the two stacks together.

Code servers and runs receive the agent's instance configuration (``DAGSTER_INSTANCE_REF``) and
resolve its ``{env: ...}`` references in their own process, so every task that captures compute
logs needs :data:`ENV_COMPUTE_LOG_BUCKET` in its environment, not only the agent.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .buckets import expiring_log_bucket
from .config import ComputeLogSettings
from .config.physical_names import COMPUTE_LOG_BUCKET, environment_name_limit_for
from .nag import acknowledge, acknowledge_wildcards

#: Bucket name of the compute logs, read by the ``compute_logs`` block of every Dagster process.
ENV_COMPUTE_LOG_BUCKET = "DAGSTER_PLATFORM_COMPUTE_LOG_BUCKET"
#: Set by ECS in every Fargate task; the block reads the bucket's region from it.
ENV_AWS_REGION = "AWS_REGION"

S3_ACCESS_LOGS_BY_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"

#: The bucket name's template and the longest environment name it fits in every region (S3's limit from cfn-lint's
#: schema, the longest region name from botocore): one source, shared with the environment-file validation.
MAX_ENVIRONMENT_NAME_LENGTH = environment_name_limit_for(COMPUTE_LOG_BUCKET)


def render_compute_logs_block(settings: ComputeLogSettings, *, kms_key_alias: str | None) -> dict[str, Any]:
    """The ``compute_logs`` block of the agent's ``dagster.yaml`` (pure; validated against
    dagster-aws's ``S3ComputeLogManager.config_type()`` in the tests)."""
    if settings.encryption == "kms" and not kms_key_alias:
        raise ValueError("compute logs are encrypted with KMS (encryption: kms), so kms_key_alias is required")
    if settings.encryption != "kms" and kms_key_alias:
        raise ValueError(f"kms_key_alias {kms_key_alias!r} given, but compute logs use encryption: {settings.encryption}")
    config: dict[str, Any] = {
        "bucket": {"env": ENV_COMPUTE_LOG_BUCKET},
        "prefix": settings.prefix,
        "region": {"env": ENV_AWS_REGION},
        "show_url_only": settings.show_url_only,
    }
    if settings.upload_interval_seconds is not None:
        config["upload_interval"] = settings.upload_interval_seconds
    if kms_key_alias:
        # The bucket's default encryption would apply the key anyway; naming it on upload keeps the
        # objects on this key even if the bucket default is changed by hand.
        config["upload_extra_args"] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_alias}
    return {"module": "dagster_aws.s3.compute_log_manager", "class": "S3ComputeLogManager", "config": config}


def compute_log_bucket_name(environment: str) -> str:
    """``dagster-<env>-compute-logs-<account>-<region>``, resolved by CloudFormation in whichever
    stack uses it: the same name in the storage stack that creates the bucket and in the
    platform stack that imports it."""
    if len(environment) > MAX_ENVIRONMENT_NAME_LENGTH:
        raise ValueError(
            f"environment name '{environment}' is too long for the compute-log bucket name "
            f"'dagster-{environment}-compute-logs-<account>-<region>': in the longest region name that leaves "
            f"{MAX_ENVIRONMENT_NAME_LENGTH} characters for the environment name"
        )
    prefix = COMPUTE_LOG_BUCKET.split("-{account}")[0].format(env=environment)
    return Fn.join("-", [prefix, Aws.ACCOUNT_ID, Aws.REGION])


def compute_log_key_alias(environment: str) -> str:
    return f"alias/dagster-platform/{environment}/compute-logs"


class ComputeLogBucket(Construct):
    """The S3 bucket of run stdout/stderr, with its customer managed KMS key (rotated, aliased)
    or S3-managed encryption, a TLS-only policy, no public access, no ACLs, lifecycle expiry of
    the logs (and of old versions when versioned) and server access logging.

    The name and key alias are deterministic so another stack can import both by name; grant
    access there with :func:`grant_compute_log_access`. ``config_block`` is the ``compute_logs``
    block for the agent's ``dagster.yaml``.

    Attributes: ``bucket``, ``bucket_name`` (the name expression), ``key`` (None for S3-managed),
    ``key_alias_name`` (None for S3-managed), ``access_log_bucket`` (None when access logging is
    off), ``prefix``, ``config_block``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ComputeLogSettings,
        environment_name: str,
        removal_policy: RemovalPolicy,
        access_log_bucket: s3.IBucket | None = None,
    ) -> None:
        """``settings``: prefix, encryption (``kms`` or ``s3_managed``), expiry, versioning, access logging.
        ``environment_name``: names the bucket ``dagster-<environment>-compute-logs-<account>-<region>`` and its
        key alias. ``removal_policy``: of the bucket and key. ``access_log_bucket``: where server access logs go
        (default: a bucket created here when ``settings`` ask for access logging)."""
        super().__init__(scope, construct_id)
        if access_log_bucket is not None and not settings.access_logging:
            raise ValueError("an access_log_bucket was given, but storage.compute_logs.access_logging is false")
        # Access logs are delivered by bucket policy: ACL delivery cannot work with BUCKET_OWNER_ENFORCED.
        self.node.set_context(S3_ACCESS_LOGS_BY_POLICY, True)
        destroy = removal_policy == RemovalPolicy.DESTROY
        self.prefix = settings.prefix
        self.bucket_name = compute_log_bucket_name(environment_name)

        self.key: kms.Key | None = None
        self.key_alias_name: str | None = None
        if settings.encryption == "kms":
            self.key_alias_name = compute_log_key_alias(environment_name)
            self.key = kms.Key(
                self,
                "Key",
                alias=self.key_alias_name,
                description=f"Dagster compute logs (run stdout/stderr) of environment '{environment_name}'",
                enable_key_rotation=True,
                removal_policy=removal_policy,
                pending_window=Duration.days(7) if destroy else None,
            )

        self.access_log_bucket: s3.IBucket | None = None
        if settings.access_logging:
            self.access_log_bucket = access_log_bucket or self._create_access_log_bucket(
                settings.expiration_days, removal_policy
            )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=self.bucket_name,
            encryption=s3.BucketEncryption.KMS if self.key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key,
            bucket_key_enabled=True if self.key else None,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=settings.versioned,
            lifecycle_rules=_compute_log_lifecycle(settings),
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="compute-log-bucket/" if self.access_log_bucket else None,
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
        )
        if not settings.access_logging:
            acknowledge(
                self.bucket,
                "AwsSolutions-S1",
                "Server access logging of the compute-log bucket is switched off for this environment "
                "(storage.compute_logs.access_logging: false); reads and writes are still in CloudTrail "
                "data events if the account enables them.",
            )

        self.config_block = render_compute_logs_block(settings, kms_key_alias=self.key_alias_name)

    def _create_access_log_bucket(self, expiration_days: int, removal_policy: RemovalPolicy) -> s3.Bucket:
        return expiring_log_bucket(
            self,
            "AccessLogs",
            expiration_id="ExpireAccessLogs",
            expiration_days=expiration_days,
            removal_policy=removal_policy,
        )


def _compute_log_lifecycle(settings: ComputeLogSettings) -> list[s3.LifecycleRule]:
    rules = [
        s3.LifecycleRule(
            id="ExpireComputeLogs",
            prefix=f"{settings.prefix}/",
            expiration=Duration.days(settings.expiration_days),
            noncurrent_version_expiration=(
                Duration.days(settings.noncurrent_version_expiration_days) if settings.versioned else None
            ),
        ),
        s3.LifecycleRule(
            id="AbortIncompleteUploads",
            abort_incomplete_multipart_upload_after=Duration.days(1),
            # Once the last version of an object has expired, its delete marker is clutter.
            expired_object_delete_marker=True if settings.versioned else None,
        ),
    ]
    return rules


_GRANT_ID = "ComputeLogAccess"


def grant_compute_log_access(
    grantee: iam.IGrantable, *, bucket_name: str, prefix: str, kms_key_alias: str | None
) -> iam.Policy | None:
    """Let ``grantee`` write and read compute logs under ``<bucket>/<prefix>/`` and, with KMS, use
    the key behind ``kms_key_alias`` through S3 only. Works where the bucket and key are known
    by name alone (another stack): the key is matched by its alias, not its ARN.

    When the principal is a construct (a role), the statements form a dedicated policy under it,
    whose wildcards are acknowledged with the reason why they are bounded; it is returned.
    """
    arn = f"arn:{Aws.PARTITION}"
    statements = [
        iam.PolicyStatement(
            sid="ComputeLogObjects",
            actions=["s3:PutObject", "s3:GetObject"],
            resources=[f"{arn}:s3:::{bucket_name}/{prefix}/*"],
        ),
        iam.PolicyStatement(
            sid="ComputeLogList",
            actions=["s3:ListBucket"],
            resources=[f"{arn}:s3:::{bucket_name}"],
            conditions={"StringLike": {"s3:prefix": f"{prefix}/*"}},
        ),
    ]
    if kms_key_alias:
        statements.append(
            iam.PolicyStatement(
                sid="ComputeLogKey",
                actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt"],
                resources=[f"{arn}:kms:{Aws.REGION}:{Aws.ACCOUNT_ID}:key/*"],
                conditions={
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": kms_key_alias},
                    "StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"},
                },
            )
        )

    principal = grantee.grant_principal
    if not (isinstance(principal, Construct) and hasattr(principal, "attach_inline_policy")):
        for statement in statements:
            if not principal.add_to_principal_policy(statement).statement_added:
                raise ValueError(f"cannot grant compute-log access to {principal}: it has no policy to add to")
        return None

    existing = principal.node.try_find_child(_GRANT_ID)
    if existing is not None:
        # Code servers and runs often share one task role: granting it twice is harmless.
        stack = Stack.of(principal)
        wanted = stack.resolve(iam.PolicyDocument(statements=statements).to_json())
        if stack.resolve(existing.document.to_json()) != wanted:
            raise ValueError(f"{principal.node.path} already has compute-log access to another bucket, prefix or key")
        return existing
    policy = iam.Policy(principal, _GRANT_ID, statements=statements)
    policy.attach_to_role(principal)
    reasons = [f"Compute-log objects are keyed by run id under the fixed prefix '{prefix}/' of one bucket"]
    if kms_key_alias:
        reasons.append(
            f"the key ARN is unknown where the key is imported by name, so key/* is limited to the key "
            f"aliased {kms_key_alias} (kms:ResourceAliases) used through S3 in this region (kms:ViaService)"
        )
    acknowledge_wildcards(policy, "; ".join(reasons) + ".")
    return policy
