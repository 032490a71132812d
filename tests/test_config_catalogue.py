"""The catalogue: values AWS or Dagster would reject (or that would silently deploy something else),
each through the real CDK CLI (`npx cdk synth --quiet`), each failing with exactly its own lines.

One CLI run covers a directory of many broken files (one wrong value per file, every expected
line asserted, nothing else printed); a few single-file runs check the exit code and timing of a
lone error. The config is validated before aws_cdk is imported, so a run costs about a second of
Python plus the CLI's own start.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from tests.support import CONFIG_DIR, ROOT, config_with

DEV_TEXT = (CONFIG_DIR / "dev.yaml").read_text()
PROD_TEXT = (CONFIG_DIR / "prod.yaml").read_text()
DEV = yaml.safe_load(DEV_TEXT)
PROD = yaml.safe_load(PROD_TEXT)
CLI_TRAILER = "python app.py: Subprocess exited with error 1"
GOOD_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagster/prod/db-AbCdEf"


@dataclass
class Case:
    """One broken environment file: its name (the environment), content and expected line tails
    (each line is ``<file>: <tail>``)."""

    name: str
    content: dict | str
    expected: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else yaml.safe_dump(self.content, sort_keys=False)


def _dup_location() -> str:
    return DEV_TEXT.replace(
        "  forecasting:\n", "  analytics:\n    code_source: {package_name: other}\n    alert_team: ml\n  forecasting:\n", 1
    )


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = text.splitlines()
    found = [index + 1 for index, line in enumerate(lines) if line.startswith(needle)]
    return found[occurrence - 1]


def _dup_team() -> str:
    return PROD_TEXT.replace("    ml:\n      email: [ml-oncall@example.com]", "    platform: {email: [a@example.com]}\n    ml:\n      email: [ml-oncall@example.com]", 1)


LONG_KEY = "k" * 129
LONG_URL = "https://intake.example.com/" + "a" * 980
CATALOGUE: list[Case] = [
    # --- network ---------------------------------------------------------------------------------
    Case("cidr-host", config_with(DEV, ("network.cidr", "10.41.7.0/16")),
         ["network.cidr = '10.41.7.0/16': has host bits set: the block it names is 10.41.0.0/16 (a different network); write 10.41.0.0/16"]),
    Case("cidr-octet", config_with(DEV, ("network.cidr", "10.300.0.0/16")),
         ["network.cidr = '10.300.0.0/16': is not an IPv4 CIDR block (Octet 300 (> 255) not permitted in '10.300.0.0')"]),
    Case("cidr-big", config_with(DEV, ("network.cidr", "10.0.0.0/8")),
         ["network.cidr = '10.0.0.0/8': a VPC's block must be between /16 and /28, not /8"]),
    Case("cidr-text", config_with(DEV, ("network.cidr", "ten.0.0.0/16")),
         ["network.cidr = 'ten.0.0.0/16': is not an IPv4 CIDR block (Only decimal digits permitted in 'ten' in 'ten.0.0.0')"]),
    Case("cidr-small", config_with(PROD, ("network.cidr", "10.40.0.0/27")),
         ["network.cidr = '10.40.0.0/27': /27 is too small for 4 subnets (public and private in each of 2 AZs; a subnet is at "
          "least /28): use /26 or larger (mode 'private', max_azs 2)"]),
    Case("cidr-3az", config_with(DEV, ("network.cidr", "10.41.0.0/27"), ("network.max_azs", 3)),
         ["network.cidr = '10.41.0.0/27': /27 is too small for 3 subnets (public in each of 3 AZs; a subnet is at least /28): "
          "use /26 or larger (mode 'public', max_azs 3)"]),
    Case("nat-many", config_with(PROD, ("network.nat_gateways", 3)),
         ["network.nat_gateways = 3: cannot exceed max_azs (2)"]),
    Case("subnet-public", config_with(DEV, ("network.subnet_ids", ["subnet-0123456789abcdef0"])),
         ["network.subnet_ids = ['subnet-0123456789abcdef0']: applies only to mode 'existing', not 'public'"]),
    Case("existing-bare", config_with(DEV, ("network", {"mode": "existing"})),
         ["network.vpc_id: mode 'existing' needs vpc_id",
          "network.subnet_ids = []: mode 'existing' needs at least one subnet id",
          "network.assign_public_ip: mode 'existing' needs assign_public_ip (true for public subnets without NAT)"]),
    # --- YAML ------------------------------------------------------------------------------------
    Case("dup-location", _dup_location(),
         [f"code_locations.analytics: duplicate key at line {_line_of(_dup_location(), '  analytics:', 2)} "
          f"(first at line {_line_of(_dup_location(), '  analytics:', 1)}); YAML would silently keep only the last one, "
          "so merge the two entries"]),
    Case("dup-team", _dup_team(),
         [f"alerting.teams.platform: duplicate key at line {_line_of(_dup_team(), '    platform: {email')} "
          f"(first at line {_line_of(_dup_team(), '    platform:')}); YAML would silently keep only the last one, "
          "so merge the two entries"]),
    # --- tags ------------------------------------------------------------------------------------
    Case("tag-aws", config_with(DEV, ("tags.aws:owner", "me")),
         ["tags.aws:owner = 'aws:owner': the 'aws:' prefix (in any case) is reserved by AWS for its own tags"]),
    Case("tag-aws-case", config_with(DEV, ("tags.AwS:owner", "me")),
         ["tags.AwS:owner = 'AwS:owner': the 'aws:' prefix (in any case) is reserved by AWS for its own tags"]),
    Case("tag-long-key", config_with(DEV, (f"tags.{LONG_KEY}", "x")),
         [f"tags.{LONG_KEY} = '{LONG_KEY[:76]}...: a tag key may have at most 128 characters, this has 129"]),
    Case("tag-long-val", config_with(DEV, ("tags.owner", "v" * 257)),
         [f"tags.owner = '{'v' * 76}...: a tag value may have at most 256 characters, this has 257"]),
    Case("tag-char", config_with(DEV, ("tags.owner", "data!platform")),
         ["tags.owner = 'data!platform': a tag value may contain only letters, digits, spaces and + - . / : = @ _; not '!'"]),
    Case("tag-key-char", config_with(DEV, ("tags.team#1", "x")),
         ["tags.team#1 = 'team#1': a tag key may contain only letters, digits, spaces and + - . / : = @ _; not '#'"]),
    Case("tag-platform", config_with(DEV, ("tags.dagster-platform:environment", "qa")),
         ["tags.dagster-platform:environment = 'dagster-platform:environment': keys starting with 'dagster-platform:' "
          "are set by the platform on every resource"]),
    Case("tag-number", config_with(DEV, ("tags.cost", 12)),
         ["tags.cost = 12: Input should be a valid string (quote it in YAML: '...')"]),
    Case("env-number", config_with(DEV, ("code_locations.analytics.env_vars.DBT_THREADS", 4)),
         ["code_locations.analytics.env_vars.DBT_THREADS = 4: Input should be a valid string (quote it in YAML: '...')"]),
    Case("secrets-tags", config_with(PROD, ("code_locations.forecasting.secrets_tags", ["aws:models"])),
         ["code_locations.forecasting.secrets_tags[0] = 'aws:models': the 'aws:' prefix (in any case) is reserved by AWS for its own tags"]),
    Case("secrets-tag", config_with(DEV, ("agent.secrets_tag", "dagster secrets!")),
         ["agent.secrets_tag = 'dagster secrets!': a tag key may contain only letters, digits, spaces and + - . / : = @ _; not '!'"]),
    # --- Firehose --------------------------------------------------------------------------------
    Case("http-buffer", config_with(PROD, ("logging.forwarding.http_endpoint.buffering.size_mib", 65)),
         ["logging.forwarding.http_endpoint.buffering.size_mib = 65: must be between 1 and 64"]),
    Case("http-interval", config_with(PROD, ("logging.forwarding.http_endpoint.buffering.interval_seconds", 901)),
         ["logging.forwarding.http_endpoint.buffering.interval_seconds = 901: must be between 0 and 900"]),
    Case("s3-buffer", config_with(DEV, ("logging.forwarding.archive.buffering.size_mib", 129)),
         ["logging.forwarding.archive.buffering.size_mib = 129: must be between 1 and 128"]),
    Case("http-retry", config_with(PROD, ("logging.forwarding.http_endpoint.retry_seconds", 7201)),
         ["logging.forwarding.http_endpoint.retry_seconds = 7201: must be between 0 and 7200"]),
    # --- filter patterns -------------------------------------------------------------------------
    Case("fp-colon", config_with(DEV, ("logging.forwarding.workloads.filter_pattern", "ERROR:")),
         ["logging.forwarding.workloads.filter_pattern = 'ERROR:': not a CloudWatch Logs filter pattern: unquoted term "
          "'ERROR:' may contain only letters, digits and _; put it in double quotes at position 1"]),
    Case("fp-json-open", config_with(DEV, ("logging.forwarding.workloads.filter_pattern", '{ $.level = "ERROR"')),
         ["logging.forwarding.workloads.filter_pattern = '{ $.level = \"ERROR\"': not a CloudWatch Logs filter pattern: "
          "expected '}' closing the JSON pattern (or && / ||), found 'the end' at position 20"]),
    Case("fp-json-num", config_with(DEV, ("logging.forwarding.workloads.filter_pattern", '{ $.latency > "slow" }')),
         ["logging.forwarding.workloads.filter_pattern = '{ $.latency > \"slow\" }': not a CloudWatch Logs filter pattern: "
          "'>' compares numbers; a quoted string can only be compared with = or != at position 15"]),
    Case("fp-delim", config_with(DEV, ("logging.forwarding.workloads.filter_pattern", "[ip, user")),
         ["logging.forwarding.workloads.filter_pattern = '[ip, user': not a CloudWatch Logs filter pattern: expected ',' "
          "or ']' in the space-delimited pattern, found 'the end' at position 10"]),
    Case("fp-regex", config_with(DEV, ("logging.forwarding.workloads.filter_pattern", "%(WARN|ERROR)%")),
         ["logging.forwarding.workloads.filter_pattern = '%(WARN|ERROR)%': not a CloudWatch Logs filter pattern: %regex% "
          "may not contain '(' ')' (allowed: letters, digits, : _ # = @ / ; , - and the operators ^ $ ? [ ] { } | \\ * + .; "
          "no parentheses) at position 1"]),
    # --- Dagster+, AWS identity ------------------------------------------------------------------
    Case("dagster-us", config_with(DEV, ("dagster.region", "us")),
         ["dagster.region = 'us': is not a Dagster+ region; omit region for the default (US) control plane, or use: "
          "eu (EU (https://<organization>.eu.dagster.cloud))"]),
    Case("dagster-aws", config_with(DEV, ("dagster.region", "eu-west-1")),
         ["dagster.region = 'eu-west-1': is not a Dagster+ region; omit region for the default (US) control plane, or "
          "use: eu (EU (https://<organization>.eu.dagster.cloud))"]),
    Case("region-none", config_with(DEV, ("region", "eu-west-9")),
         ["region = 'eu-west-9': is not an AWS region (botocore knows none by this name); for example eu-west-1 or us-east-1"]),
    Case("az-missing", config_with(DEV, ("account", "111122223333"), ("region", "eu-west-1")),
         ["account = '111122223333': no availability zones pinned for this account in eu-west-1: add "
          "\"availability-zones:account=111122223333:region=eu-west-1\": [\"eu-west-1a\", \"eu-west-1b\"] (the account's "
          "real zone names) to the context in cdk.json"]),
    Case("az-noregion", config_with(DEV, ("account", "123456789012")),
         ["region: required with account: availability zones are pinned per account and region"]),
    Case("environmentnam", DEV_TEXT,
         ["name = 'environmentnam': too long (14 characters): at most 13, because the compute-log bucket name "
          "dagster-<env>-compute-logs-<account>-<region> may have 63 characters (S3 bucket names) and region names "
          "have up to 15"]),
    Case("qa_eu", DEV_TEXT,
         ["name = 'qa_eu': must be 2-13 lowercase letters, digits or '-', starting with a letter and not ending with '-'"]),
    # --- secrets ---------------------------------------------------------------------------------
    Case("arn-suffix", config_with(DEV, ("agent.token_secret", {"existing_secret_arn": GOOD_ARN[:-7]})),
         [f"agent.token_secret.existing_secret_arn = '{GOOD_ARN[:-7]}': a secret ARN must end with the 6 characters "
          "Secrets Manager appends to the name (...:secret:<name>-AbCdEf); copy the complete ARN from the console or "
          "`aws secretsmanager describe-secret`"]),
    Case("loc-arn", config_with(PROD, ("code_locations.analytics.secrets", {"DB": GOOD_ARN[:-7] + ":password"})),
         [f"code_locations.analytics.secrets.DB = '{GOOD_ARN[:-7]}:password': a secret ARN must end with the 6 "
          "characters Secrets Manager appends to the name (...:secret:<name>-AbCdEf); copy the complete ARN from the "
          "console or `aws secretsmanager describe-secret`"]),
    Case("loc-colons", config_with(PROD, ("code_locations.analytics.secrets", {"DB": "db:a:b"})),
         ["code_locations.analytics.secrets.DB = 'db:a:b': must be a secret name, name:json_key, or a full secret ARN "
          "(ending in the 6-character suffix) with optional :json_key; only one ':' may follow the name"]),
    Case("loc-secretnm", config_with(PROD, ("code_locations.analytics.secrets", {"DB": "my secret"})),
         ["code_locations.analytics.secrets.DB = 'my secret': a secret name may contain only ASCII letters, digits and "
          "/ _ + = . @ -"]),
    Case("token-jsonkey", config_with(PROD, ("agent.token_secret.json_field", "a:b")),
         ["agent.token_secret.json_field = 'a:b': must be a JSON key without ':' or spaces"]),
    # --- env vars --------------------------------------------------------------------------------
    Case("env-platform", config_with(DEV, ("code_locations.analytics.env_vars.DAGSTER_PLATFORM_ENVIRONMENT", "x")),
         ["code_locations.analytics.env_vars.DAGSTER_PLATFORM_ENVIRONMENT = 'DAGSTER_PLATFORM_ENVIRONMENT': names "
          "starting with DAGSTER_PLATFORM_ are set by this platform in every container; choose another name"]),
    Case("env-cloud", config_with(DEV, ("code_locations.analytics.env_vars.DAGSTER_CLOUD_DEPLOYMENT_NAME", "x")),
         ["code_locations.analytics.env_vars.DAGSTER_CLOUD_DEPLOYMENT_NAME = 'DAGSTER_CLOUD_DEPLOYMENT_NAME': is set by "
          "Dagster+ / Dagster in every code-server and run container; setting it here would override it"]),
    Case("env-region", config_with(DEV, ("code_locations.analytics.env_vars.AWS_REGION", "us-east-1")),
         ["code_locations.analytics.env_vars.AWS_REGION = 'AWS_REGION': is set by ECS in every code-server and run "
          "container; setting it here would override it"]),
    Case("env-secret", config_with(PROD, ("code_locations.analytics.env_vars.WAREHOUSE_PASSWORD", "hunter2")),
         ["code_locations.analytics.secrets.WAREHOUSE_PASSWORD = 'dagster/prod/warehouse': is also set in env_vars; "
          "a variable comes from one or the other"]),
    # --- lists and names a user could get wrong --------------------------------------------------
    Case("dup-deploy", config_with(DEV, ("dagster.deployments", ["dev", "staging", "dev"])),
         ["dagster.deployments = ['dev', 'staging', 'dev']: lists deployment dev more than once"]),
    Case("dup-queue", config_with(PROD, ("dagster.agent_queues.additional_queues", ["heavy", "heavy"])),
         ["dagster.agent_queues.additional_queues = ['heavy', 'heavy']: lists queue heavy more than once"]),
    Case("image-tag", config_with(DEV, ("agent.image", "dagster/dagster-cloud-agent:latest")),
         ["agent.image = 'dagster/dagster-cloud-agent:latest': must be an image repository without a tag, such as "
          "dagster/dagster-cloud-agent or <registry>/<repo>"]),
    Case("cluster-name", config_with(DEV, ("cluster.existing_cluster_name", "shared data")),
         ["cluster.existing_cluster_name = 'shared data': must be an ECS cluster name (1-255 letters, digits, '-', '_')"]),
    Case("url-long", config_with(PROD, ("logging.forwarding.http_endpoint.url", LONG_URL)),
         [f"logging.forwarding.http_endpoint.url = {LONG_URL!r:.77}...: a Firehose endpoint URL "
          "may have at most 1000 characters, this has 1007"]),
    # --- all problems of one file at once, field errors and cross-section rules together --------
    Case("many", config_with(PROD, ("agent.replicas", 9), ("code_locations.analytics.alert_team", "finance"),
                         ("alerting.default_team", "oncall"), ("code_locations.forecasting.agent_queue", "gpu")),
         ["agent.replicas = 9: must be between 1 and 5",
          "alerting.default_team = 'oncall': not a team in alerting.teams (data-eng, ml, platform)",
          "code_locations.analytics.alert_team = 'finance': not a team in alerting.teams (data-eng, ml, platform)",
          "code_locations.forecasting.agent_queue = 'gpu': not in dagster.agent_queues.additional_queues (heavy)"]),
    Case("hidden-rule", config_with(DEV, ("network.cidr", "10.41.0.1/16"), ("network.vpc_id", "vpc-0123456789abcdef0")),
         ["network.cidr = '10.41.0.1/16': has host bits set: the block it names is 10.41.0.0/16 (a different network); "
          "write 10.41.0.0/16",
          "network.vpc_id = 'vpc-0123456789abcdef0': applies only to mode 'existing', not 'public'"]),
    Case("email-id", config_with(PROD, ("alerting.email", {"domain": "example.com", "address": "a@example.org",
                                                       "hosted_zone_id": "Z0123456789ABCDEFGHIJ", "sender": "a@example.org"})),
         ["alerting.email: give exactly one of domain (with optional hosted_zone_id) or address",
          "alerting.email.sender = 'a@example.org': must be an address of the domain example.com"]),
]


def run_cli(config_dir: Path, outdir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``npx cdk synth --quiet`` as a user runs it, with only this machine's PATH (no CDK defaults)."""
    env = {key: value for key, value in os.environ.items() if key not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION")}
    env["DAGSTER_PLATFORM_CONFIG_DIR"] = str(config_dir)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    user_npmrc = outdir.parent / "empty.npmrc"
    user_npmrc.write_text("")
    env["NPM_CONFIG_USERCONFIG"] = str(user_npmrc)  # a developer's ~/.npmrc may add npm warnings
    env["NPM_CONFIG_UPDATE_NOTIFIER"] = "false"  # and npm may announce its own updates
    started = time.perf_counter()
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "-o", str(outdir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return result, time.perf_counter() - started


def test_the_catalogue_has_at_least_forty_wrong_values_each_in_its_own_file():
    assert len(CATALOGUE) >= 40
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)
    assert all(case.expected for case in CATALOGUE)


def test_every_wrong_value_fails_the_real_cli_with_exactly_its_lines(tmp_path, record_property):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for case in CATALOGUE:
        (config_dir / f"{case.name}.yaml").write_text(case.text())
    result, seconds = run_cli(config_dir, tmp_path / "cdk.out")
    record_property("catalogue_cli_seconds", round(seconds, 2))
    expected = [
        f"{config_dir / case.name}.yaml: {tail}"
        for case in sorted(CATALOGUE, key=lambda case: f"{case.name}.yaml")
        for tail in case.expected
    ]
    actual = result.stderr.splitlines()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert actual[-1] == CLI_TRAILER
    missing = [line for line in expected if line not in actual]
    extra = [line for line in actual[:-1] if line not in expected]
    assert (missing, extra) == ([], [])
    assert actual[:-1] == expected  # one line per problem, files in order, nothing else
    print(f"catalogue: {len(CATALOGUE)} files, {len(expected)} lines, one CLI run in {seconds:.1f} s")


SINGLE_RUNS = ["cidr-host", "dup-location"]


@pytest.mark.parametrize("name", SINGLE_RUNS)
def test_a_single_wrong_value_fails_the_cli_alone_and_fast(tmp_path, name):
    [case] = [case for case in CATALOGUE if case.name == name]
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / f"{case.name}.yaml").write_text(case.text())
    (config_dir / "dev.yaml").write_text(DEV_TEXT)  # a valid neighbour does not hide or add anything
    result, seconds = run_cli(config_dir, tmp_path / "cdk.out")
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.splitlines() == [f"{config_dir / case.name}.yaml: {tail}" for tail in case.expected] + [CLI_TRAILER]
    assert seconds < 30, f"a config error took {seconds:.1f} s: is aws_cdk imported before validation?"


def test_the_example_files_still_validate_with_the_cdk_context():
    from app import cdk_json_context
    from constructs_lib.config import load_environments

    assert [config.name for config in load_environments(CONFIG_DIR, cdk_json_context())] == ["dev", "prod"]
