"""The one way this library makes an S3-managed bucket for logs: private, TLS-only, expiring."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def expiring_log_bucket(
    scope: Construct,
    construct_id: str,
    *,
    expiration_id: str,
    expiration_days: int,
    removal_policy: RemovalPolicy,
    access_log_bucket: s3.IBucket | None = None,
    access_log_prefix: str | None = None,
) -> s3.Bucket:
    """SSE-S3 (S3 server access logs cannot be delivered to SSE-KMS buckets), TLS 1.2+ only,
    public access blocked, owner-enforced, objects expiring, emptied on delete when disposable."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[
            s3.LifecycleRule(
                id=expiration_id,
                expiration=Duration.days(expiration_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        server_access_logs_bucket=access_log_bucket,
        server_access_logs_prefix=access_log_prefix,
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
    )
