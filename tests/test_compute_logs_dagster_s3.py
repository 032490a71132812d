"""A real Dagster run writes its stdout/stderr through the rendered ``compute_logs`` block to S3.

Nothing of Dagster is mocked: the job runs in-process on a test instance whose ``compute_logs``
block is what the agent's ``dagster.yaml`` gets for the dev and prod examples, and dagster-aws's
``S3ComputeLogManager`` builds its own boto3 client. S3 is moto, reached one of two ways:

* ``moto-in-process``: ``mock_aws`` answers every boto3 request of this process (botocore still
  signs and serializes them), so the block is passed exactly as rendered;
* ``moto-server``: moto's threaded HTTP server on a free port, reached over real HTTP through
  ``endpoint_url``, the only key added to the block. It needs moto's ``server`` extra (Flask);
  where that is not installed the variant is skipped, visibly.
"""

from __future__ import annotations

import copy
import sys
import uuid

import boto3
import pytest
from dagster import In, Nothing, instance_for_test, job, op
from moto import mock_aws

from constructs_lib.compute_logs import (
    ENV_AWS_REGION,
    ENV_COMPUTE_LOG_BUCKET,
    compute_log_key_alias,
    render_compute_logs_block,
)
from constructs_lib.config import ComputeLogSettings, load_environment
from tests.support import CONFIG_DIR

REGION = "eu-west-1"
STDOUT_LINE = "cwl-test: hello from stdout"
STDERR_LINE = "cwl-test: trouble on stderr"


@op
def shout() -> None:
    print(STDOUT_LINE, flush=True)
    print(STDERR_LINE, file=sys.stderr, flush=True)


@op(ins={"after": In(Nothing)})
def shout_again() -> None:
    print(f"{STDOUT_LINE} (second op)", flush=True)


@job
def noisy():
    shout_again(after=shout())


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        ENV_AWS_REGION: REGION,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def create_bucket_like_the_template(client, name: str, settings: ComputeLogSettings, kms_key_id: str | None) -> None:
    """The bucket as ComputeLogBucket configures it: versioning, default encryption, no public access."""
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if settings.versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id} if kms_key_id else {"SSEAlgorithm": "AES256"}
    client.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bool(kms_key_id)}]
        },
    )
    client.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def read(client, bucket: str, key: str) -> str:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


@pytest.fixture(params=["moto-in-process", "moto-server"])
def s3_endpoint(request, aws_env):
    """The S3 endpoint URL to add to the block (None: the block stays exactly as rendered)."""
    if request.param == "moto-in-process":
        with mock_aws():
            yield None
        return
    server_module = pytest.importorskip("moto.server", reason="moto's server extra (Flask) is not installed")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_a_real_runs_stdout_and_stderr_land_in_s3_under_the_rendered_block(environment, s3_endpoint, monkeypatch):
    settings = load_environment(CONFIG_DIR / f"{environment}.yaml").storage.compute_logs
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    alias = None
    kms_key_id = None
    if settings.encryption == "kms":
        # moto stores SSE-KMS settings without checking the key, so this proves what Dagster sends
        # on each upload, not KMS itself; the IAM side is pinned by the template tests.
        alias = compute_log_key_alias(environment)
        kms = boto3.client("kms", endpoint_url=s3_endpoint, region_name=REGION)
        kms_key_id = kms.create_key(Description="compute logs")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=alias, TargetKeyId=kms_key_id)
    block = render_compute_logs_block(settings, kms_key_alias=alias)

    bucket = f"dagster-{environment}-compute-logs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(ENV_COMPUTE_LOG_BUCKET, bucket)
    create_bucket_like_the_template(client, bucket, settings, kms_key_id)

    compute_logs = copy.deepcopy(block)
    if s3_endpoint:
        compute_logs["config"]["endpoint_url"] = s3_endpoint
    with instance_for_test(overrides={"compute_logs": compute_logs}) as instance:
        manager = instance.compute_log_manager
        assert type(manager).__name__ == "S3ComputeLogManager"
        assert manager._s3_bucket == bucket  # {env: DAGSTER_PLATFORM_COMPUTE_LOG_BUCKET} was resolved
        assert manager._region == REGION  # {env: AWS_REGION} was resolved
        result = noisy.execute_in_process(instance=instance)
        assert result.success
        run_id = result.run_id
        [capture] = [
            event
            for event in instance.all_logs(run_id)
            if event.dagster_event is not None and event.dagster_event.event_type_value == "LOGS_CAPTURED"
        ]
        captured = capture.dagster_event.logs_captured_data
        assert set(captured.step_keys) == {"shout", "shout_again"}

    # dagster-aws's layout: <prefix>/storage/<run id>/compute_logs/<file key>.out|.err
    base = f"{settings.prefix}/storage/{run_id}/compute_logs/{captured.file_key}"
    listed = {obj["Key"] for obj in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {f"{base}.out", f"{base}.err"} <= listed
    assert all(key.startswith(f"{settings.prefix}/storage/{run_id}/compute_logs/") for key in listed)

    stdout, stderr = read(client, bucket, f"{base}.out"), read(client, bucket, f"{base}.err")
    assert STDOUT_LINE in stdout and f"{STDOUT_LINE} (second op)" in stdout
    assert STDERR_LINE in stderr and STDOUT_LINE not in stderr
    for suffix in (".out", ".err"):
        head = client.head_object(Bucket=bucket, Key=base + suffix)
        assert head["ContentType"] == "text/plain"
        if alias:
            assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", alias)
        else:
            assert head["ServerSideEncryption"] == "AES256"  # the bucket default applied
