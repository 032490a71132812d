"""The README's "Using the constructs from another CDK app" example runs and synthesizes as written."""

from __future__ import annotations

import re

from aws_cdk.assertions import Template

from constructs_lib.nag import attach_platform_checks
from tests.support import ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using the constructs from another CDK app", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_library_example_synthesizes_an_agent_with_its_rendered_config(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "class: DagsterCloudAgentInstance" in printed and "https://acme.agent.dagster.cloud" in printed
    template = Template.from_stack(namespace["stack"])
    template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 2})
    template.resource_count_is("AWS::EC2::NatGateway", 2)


def test_readme_example_passes_the_platforms_checks_once_attached(tmp_path, monkeypatch):
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    code = readme_example().replace("app = App()", "app = App()\nattach_platform_checks(app)")
    namespace: dict = {"attach_platform_checks": attach_platform_checks}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["app"].synth()
