"""The rules behind the catalogue: where each limit comes from, and that the examples still pass."""

from __future__ import annotations

import json

import botocore.session
import pytest
import yaml

from constructs_lib.config import ConfigError, load_environment, load_environments
from constructs_lib.config.physical_names import NAME_RULES, environment_name_limit
from constructs_lib.config.reserved_env import DAGSTER_CLOUD_RESERVED, reserved_env_var_problem
from constructs_lib.config.secret_refs import SecretReferenceProblem, parse_secret_reference
from constructs_lib.config.tags import tag_key_problem, tag_rules, tag_value_problem
from constructs_lib.config.yaml_source import load_yaml
from constructs_lib.secrets_reference import SecretReference

from tests.support import CONFIG_DIR, write_config

DEV_TEXT = (CONFIG_DIR / "dev.yaml").read_text()
DEV = yaml.safe_load(DEV_TEXT)
BOTO = botocore.session.get_session()


# --- YAML -----------------------------------------------------------------------------------------


def test_duplicate_keys_are_found_at_any_depth_with_both_lines():
    text = "a: 1\nb:\n  x: 1\n  x: 2\n  l:\n    - {k: 1, k: 2}\na: 3\n"
    data, duplicates = load_yaml(text)
    assert data == yaml.safe_load(text)  # the same data safe_load builds
    assert [(d.path, d.line, d.first_line) for d in duplicates] == [("b.x", 4, 3), ("b.l[0].k", 6, 6), ("a", 7, 1)]


def test_merge_keys_may_be_overridden_and_equal_looking_keys_of_other_types_are_distinct():
    text = "base: &b {m: 1, n: 2}\nderived:\n  <<: *b\n  m: 5\n1: one\n'1': also one\n"
    data, duplicates = load_yaml(text)
    assert duplicates == [] and data["derived"] == {"m": 5, "n": 2}


def test_a_file_reports_duplicates_and_field_errors_together(tmp_path):
    text = DEV_TEXT.replace("  replicas: 1\n", "  replicas: 9\n  replicas: 8\n")
    path = write_config(tmp_path, "dev", text)
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    line = text.splitlines().index("  replicas: 8") + 1
    assert caught.value.lines == [
        f"{path}: agent.replicas: duplicate key at line {line} (first at line {line - 1}); YAML would silently keep "
        "only the last one, so merge the two entries",
        f"{path}: agent.replicas = 8: must be between 1 and 5",
    ]


def test_all_files_are_reported_together_each_with_all_its_problems(tmp_path):
    bad = dict(DEV, agent={**DEV["agent"], "replicas": 0}, tags={"aws:x": "1", "ok": "fine!"})
    write_config(tmp_path, "dev", yaml.safe_dump(bad))
    write_config(tmp_path, "qa", yaml.safe_dump(dict(DEV, network={**DEV["network"], "cidr": "10.0.0.1/16"})))
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    assert [line.split(": ", 2)[1] for line in caught.value.lines] == [
        "tags.aws:x = 'aws:x'", "tags.ok = 'fine!'", "agent.replicas = 0", "network.cidr = '10.0.0.1/16'"
    ]


# --- tags -----------------------------------------------------------------------------------------


def test_tag_limits_are_the_strictest_of_the_tagged_services_models():
    rules = tag_rules()
    ecs = BOTO.get_service_model("ecs")
    assert rules.key_max == ecs.shape_for("TagKey").metadata["max"] == 128
    assert rules.value_max == ecs.shape_for("TagValue").metadata["max"] == 256
    assert rules.max_tags == ecs.shape_for("Tags").metadata["max"]
    assert "%" not in rules.key_chars.literals  # Firehose allows '%', IAM and ECS do not: the strictest wins


@pytest.mark.parametrize("key", ["aws:x", "AWS:x", "Aws:cost", "aWs:"])
def test_the_aws_prefix_is_reserved_in_any_case(key):
    assert "reserved by AWS" in tag_key_problem(key)


def test_unicode_letters_and_spaces_are_valid_tag_characters_like_in_the_models():
    assert tag_key_problem("Kostenstelle Übersicht") is None
    assert tag_value_problem("équipe données") is None
    assert "not '#'" in tag_value_problem("a#b")


# --- physical names -------------------------------------------------------------------------------


def test_each_physical_name_template_is_what_the_stacks_deploy(synthesized):
    """The name table is the one the environment-name bound is computed from: it must match the
    names in the synthesized templates of prod."""
    text = json.dumps([template for _, _, template in synthesized.all_templates()])
    for rule in NAME_RULES:
        if "{account}" in rule.template:
            assert rule.template.split("-{account}")[0].format(env="prod") in text, rule.what
            continue
        assert rule.template.format(env="prod", location="analytics") in text, rule.what


def test_the_environment_name_bound_comes_from_the_s3_bucket_name_limit():
    import cfnlint  # noqa: F401  (the bucket limit is read from its CloudFormation schema)

    limit, rule = environment_name_limit()
    longest_region = max(len(region) for partition in BOTO.get_available_partitions()
                         for region in BOTO.get_available_regions("s3", partition_name=partition))
    assert rule.what == "compute-log bucket"
    assert limit == 63 - len("dagster--compute-logs--") - 12 - longest_region
    for other in NAME_RULES:
        sample = other.template.format(env="e" * limit, account="0" * 12, region="r" * longest_region, location="l" * 40)
        assert len(sample) <= other.limit(), other.what


def test_an_environment_name_at_the_bound_builds_its_stage_and_one_more_is_refused(tmp_path):
    from aws_cdk import App

    from stacks import DagsterPlatformStage

    limit, _ = environment_name_limit()
    name = "e" * limit
    config = load_environment(write_config(tmp_path, name, DEV_TEXT))
    DagsterPlatformStage(App(), config=config)  # the compute-log bucket guard does not raise
    with pytest.raises(ConfigError, match=f"too long \\({limit + 1} characters\\): at most {limit}"):
        load_environment(write_config(tmp_path, name + "e", DEV_TEXT))


# --- env vars -------------------------------------------------------------------------------------


def test_reserved_names_include_dagster_clouds_own_list():
    from dagster_cloud.constants import RESERVED_ENV_VAR_NAMES

    assert set(RESERVED_ENV_VAR_NAMES) == set(DAGSTER_CLOUD_RESERVED)


@pytest.mark.parametrize(
    "source", [{"python_file": "defs.py"}, {"package_name": "analytics"}, {"module_name": "analytics.defs"},
               {"autoload_defs_module_name": "analytics"}]
)
def test_every_variable_dagster_cloud_sets_on_a_code_server_is_reserved(source):
    from dagster_cloud.workspace.user_code_launcher.utils import get_grpc_server_env
    from dagster_cloud_cli.core.workspace import CodeLocationDeployData

    data = CodeLocationDeployData(
        image="acme/analytics:1", working_directory="/app", attribute="defs", executable_path="/venv/bin/python",
        container_context={"ecs": {}}, **source,
    )
    env = get_grpc_server_env(data, port=4000, location_name="analytics", instance_ref=None, socket="/tmp/s")
    assert len(env) >= 8
    assert [name for name in env if not reserved_env_var_problem(name)] == []


def test_the_platforms_own_variables_are_reserved(synthesized):
    """What the platform sets: each location's container context and the agent's environment."""
    rendered = yaml.safe_load((synthesized.outdir / "dagster" / "prod" / "dagster_cloud.yaml").read_text())
    names = {item.split("=")[0] for location in rendered["locations"]
             for item in location["container_context"]["ecs"]["env_vars"]}
    for task in synthesized.resources("prod", "platform", "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            names |= {item["Name"] for item in container.get("Environment", [])}
    platform = {name for name in names if name.startswith("DAGSTER_PLATFORM_")}
    assert {"DAGSTER_PLATFORM_LOCATION", "DAGSTER_PLATFORM_ENVIRONMENT"} <= platform
    assert [name for name in platform if not reserved_env_var_problem(name)] == []
    # names users set in config (DBT_TARGET in the examples) stay theirs
    assert reserved_env_var_problem("DBT_TARGET") is None


def test_ordinary_variables_stay_allowed():
    for name in ("DBT_TARGET", "DAGSTER_DBT_PARSE_PROJECT_ON_LOAD", "AWS_STS_REGIONAL_ENDPOINTS", "SNOWFLAKE_ACCOUNT"):
        assert reserved_env_var_problem(name) is None


# --- secrets --------------------------------------------------------------------------------------

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dagster/prod/db-AbCdEf"


@pytest.mark.parametrize(
    ("text", "name", "arn", "json_key"),
    [
        ("dagster/prod/db", "dagster/prod/db", None, None),
        ("dagster/prod/db:password", "dagster/prod/db", None, "password"),
        (ARN, "dagster/prod/db-AbCdEf", ARN, None),
        (ARN + ":password", "dagster/prod/db-AbCdEf", ARN, "password"),
    ],
)
def test_the_documented_secret_forms_parse_to_the_renderers_value_object(text, name, arn, json_key):
    reference = parse_secret_reference(text)
    assert isinstance(reference, SecretReference)
    assert (reference.name, reference.arn, reference.json_key) == (name, arn, json_key)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (ARN[:-7], "must end with the 6 characters"),
        (ARN.replace("123456789012", "1234"), "must be a complete Secrets Manager secret ARN"),
        (ARN + ":k:AWSCURRENT:", "only one :json_key may follow"),
        ("db:", "the :json_key part must be a non-empty key"),
        ("db:a:b", "only one ':' may follow the name"),
        ("my secret", "may contain only ASCII letters"),
        ("s" * 513, "at most 512 characters"),
    ],
)
def test_malformed_secret_references_are_refused(text, reason):
    with pytest.raises(SecretReferenceProblem, match=reason):
        parse_secret_reference(text)


def test_code_locations_expose_their_parsed_secrets(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "prod.yaml").read_text())
    data["code_locations"]["analytics"]["secrets"] = {"DB": ARN + ":password", "API": "dagster/prod/api"}
    config = load_environment(write_config(tmp_path, "prod", yaml.safe_dump(data)))
    references = config.code_locations["analytics"].secret_references
    assert references["DB"].arn == ARN and references["DB"].json_key == "password"
    assert references["API"] == SecretReference(name="dagster/prod/api")


# --- Firehose, Dagster+ ---------------------------------------------------------------------------


def test_firehose_buffering_bounds_are_the_api_models_per_destination():
    from constructs_lib.config.observability import Buffering, HttpEndpointBuffering

    model = BOTO.get_service_model("firehose")
    for settings, shape in ((Buffering, "BufferingHints"), (HttpEndpointBuffering, "HttpEndpointBufferingHints")):
        size = model.shape_for(shape).members["SizeInMBs"].metadata
        settings(size_mib=size["max"])
        with pytest.raises(ValueError, match=f"must be between {size['min']} and {size['max']}"):
            settings(size_mib=size["max"] + 1)
    assert model.shape_for("HttpEndpointBufferingHints").members["SizeInMBs"].metadata["max"] == 64


def test_the_eu_control_plane_is_accepted_and_named_in_the_urls():
    from constructs_lib.config import DagsterCloudSettings

    settings = DagsterCloudSettings(organization="acme", region="eu", deployments=("prod",))
    assert settings.agent_api_url == "https://acme.agent.eu.dagster.cloud"


def test_the_example_files_pass_with_the_cdk_context():
    from app import cdk_json_context

    assert [config.name for config in load_environments(CONFIG_DIR, cdk_json_context())] == ["dev", "prod"]


def test_every_ecs_tag_the_container_context_renders_is_a_valid_aws_tag():
    """alert_team, location and environment names become ECS tags of code servers and runs."""
    from constructs_lib.code_locations.rendering import render_container_context

    for config in load_environments(CONFIG_DIR):
        for name, location in config.code_locations.items():
            # secrets are rendered to ARNs elsewhere; the tags are what this test is about
            ecs = render_container_context(config.name, name, location.model_copy(update={"secrets": {}}))["ecs"]
            for tag in ecs["server_ecs_tags"] + ecs["run_ecs_tags"]:
                assert tag_key_problem(tag["key"]) is None and tag_value_problem(tag["value"]) is None, tag
            for key in ecs.get("secrets_tags", []):
                assert tag_key_problem(key) is None


def test_a_sections_own_rules_are_reported_even_when_one_of_its_fields_is_invalid(tmp_path):
    """network's mode rules and the SES identity rules run although cidr / hosted_zone_id failed."""
    data = yaml.safe_load(DEV_TEXT)
    data["network"].update(cidr="10.41.7.0/16", subnet_ids=["subnet-0123456789abcdef0"])
    data["alerting"]["email"] = {"domain": "example.com", "address": "a@x.org", "sender": "a@x.org", "hosted_zone_id": "bad"}
    path = write_config(tmp_path, "dev", yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    assert [line[len(str(path)) + 2 :] for line in caught.value.lines] == [
        "network.cidr = '10.41.7.0/16': has host bits set: the block it names is 10.41.0.0/16 (a different network); "
        "write 10.41.0.0/16",
        "alerting.email.hosted_zone_id = 'bad': must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ",
        "network.subnet_ids = ['subnet-0123456789abcdef0']: applies only to mode 'existing', not 'public'",
        "alerting.email: give exactly one of domain (with optional hosted_zone_id) or address",
        "alerting.email.sender = 'a@x.org': must be an address of the domain example.com",
    ]
