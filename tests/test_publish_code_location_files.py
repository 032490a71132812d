"""The platform publishes each environment's code-location files as SSM parameters, and the documented fetch
command returns exactly the files synth rendered (moto Parameter Store, fed from the synthesized template)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from moto import mock_aws

from constructs_lib.code_locations.publish import (
    CodeLocationFiles,
    fetch_command,
    parameter_limits,
    parameter_tier,
)
from tests.support import ROOT

FILES = ("dagster_cloud.yaml", "run_policy.json")
ENVIRONMENTS = ("dev", "prod")


def published(synthesized, environment: str) -> dict[str, dict]:
    """Parameter name -> properties of every SSM parameter of the environment's platform stack."""
    return {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in synthesized.resources(environment, "platform", "AWS::SSM::Parameter").values()
    }


def run_fetch_command(command: str, ssm, workdir) -> None:
    """What `aws ssm get-parameter --name N --query Parameter.Value --output text > F` does, through boto3: the CLI
    prints the value and a newline into F. Anything else in the command is refused, so the test follows the text."""
    words = shlex.split(command)
    assert words[:3] == ["aws", "ssm", "get-parameter"] and words[-2] == ">", command
    options = dict(zip(words[3:-2:2], words[4:-2:2]))
    assert options == {"--name": options["--name"], "--query": "Parameter.Value", "--output": "text"}, command
    value = ssm.get_parameter(Name=options["--name"])["Parameter"]["Value"]
    (workdir / words[-1]).write_text(value + "\n")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_template_carries_exactly_the_rendered_files(synthesized, environment):
    parameters = published(synthesized, environment)
    assert sorted(parameters) == [f"/dagster-platform/{environment}/{name}" for name in FILES]
    for name in FILES:
        properties = parameters[f"/dagster-platform/{environment}/{name}"]
        rendered = (synthesized.outdir / "dagster" / environment / name).read_text()
        assert properties["Value"] == rendered
        assert properties["Type"] == "String" and properties["Tier"] == "Standard"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_documented_fetch_command_returns_the_files_and_the_checker_accepts_them(synthesized, environment, tmp_path):
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        for name, properties in published(synthesized, environment).items():
            ssm.put_parameter(Name=name, Value=properties["Value"], Type=properties["Type"], Tier=properties["Tier"])
        for name in FILES:
            run_fetch_command(fetch_command(environment, name), ssm, tmp_path)
    for name in FILES:
        rendered = (synthesized.outdir / "dagster" / environment / name).read_text()
        assert (tmp_path / name).read_text().rstrip("\n") == rendered.rstrip("\n")
    # The CI's next step: the checker enforces the fetched policy exactly as the rendered one.
    sample = ROOT / "tests/dagster_platform/sample_location/clean_definitions.py"
    fetched, rendered = (
        subprocess.run(
            [sys.executable, "-m", "dagster_platform", "check", "--policy", str(policy), str(sample)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        for policy in (tmp_path / "run_policy.json", synthesized.outdir / "dagster" / environment / "run_policy.json")
    )
    assert (fetched.returncode, fetched.stdout) == (rendered.returncode, rendered.stdout)
    assert fetched.returncode in (0, 1) and f"{environment} policy" in fetched.stdout, fetched.stderr


def test_tier_is_the_cheapest_that_holds_the_file():
    limits = parameter_limits()
    assert (limits.standard_bytes, limits.advanced_bytes) == (4096, 8192)
    app = App()
    stack = Stack(app, "files")
    files = CodeLocationFiles(
        stack, "Files", environment_name="big",
        files={"small.json": "x" * limits.standard_bytes, "large.yaml": "y" * (limits.standard_bytes + 1)},
    )
    template = Template.from_stack(stack)
    by_name = {r["Properties"]["Name"]: r["Properties"] for r in template.find_resources("AWS::SSM::Parameter").values()}
    assert by_name["/dagster-platform/big/small.json"]["Tier"] == "Standard"
    assert by_name["/dagster-platform/big/large.yaml"]["Tier"] == "Advanced"
    assert files.parameter_names == {n: f"/dagster-platform/big/{n}" for n in ("large.yaml", "small.json")}
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        for name, properties in by_name.items():
            ssm.put_parameter(Name=name, Value=properties["Value"], Type="String", Tier=properties["Tier"])
        assert ssm.get_parameter(Name="/dagster-platform/big/large.yaml")["Parameter"]["Value"] == "y" * 4097
    # (moto does not enforce the tier sizes, so the limits themselves come from botocore's model, above.)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("z" * 8193, "/dagster-platform/e/f.yaml: 8193 bytes; Parameter Store holds at most 8192 bytes (advanced tier)"),
        ("a: '{{resolve:ssm:x}}'", "/dagster-platform/e/f.yaml: the value contains '{{', which Parameter Store refuses"),
    ],
)
def test_files_parameter_store_cannot_hold_stop_synth_with_one_line(text, message):
    with pytest.raises(ValueError) as raised:
        parameter_tier("/dagster-platform/e/f.yaml", text)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_grant_read_allows_exactly_the_published_parameters():
    app = App()
    stack = Stack(app, "files")
    from aws_cdk import aws_iam as iam

    role = iam.Role(stack, "Ci", assumed_by=iam.AccountRootPrincipal())
    files = CodeLocationFiles(stack, "Files", environment_name="prod", files={"run_policy.json": "{}"})
    files.grant_read(role)
    statements = [
        statement
        for policy in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert len(statements) == 1 and "*" not in str(statements[0]["Resource"])
    assert "ssm:GetParameter" in statements[0]["Action"]
