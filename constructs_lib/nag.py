"""Acknowledge cdk-nag findings on the narrowest construct, always with a reason.

cdk-nag 3 reports each wildcard of ``AwsSolutions-IAM5`` as its own finding, e.g.
``AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:...:task/<Cluster>/*]``. Instead of
copying those strings by hand, :func:`acknowledge_wildcards` computes them from the final
policy document at synth, the way cdk-nag flattens them, so every wildcard is listed in the
validation report with the reason that justifies it. Tests pin the exact wildcard set, so a new
wildcard cannot slip in under an old reason.
"""

from __future__ import annotations

import json
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Aspects, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

MIN_REASON_LENGTH = 20


def attach_platform_checks(app: IConstruct, *, cfn_lint: bool = True) -> None:
    """The checks every app of this platform runs at synth, and the gate that makes them stop it.

    Registers cdk-nag's AwsSolutions (recording each acknowledgment in template metadata, for the
    review report) and Serverless packs and, unless ``cfn_lint=False``, cfn-lint
    (:class:`constructs_lib.cfn_lint_plugin.CfnLintPlugin`) as validation plugins, so all their
    findings land in ``cdk.out/validation-report.json``. Then wraps ``app.synth()``
    (:mod:`constructs_lib.synth_gate`): any unacknowledged error in that report makes synth exit 1
    with one line per finding, also under the CDK CLI, which does not fail on its own for stacks
    inside Stages. Call it once, on the App, before ``app.synth()``.
    """
    from aws_cdk import Stage
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks

    from . import synth_gate

    plugins = [AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True), ServerlessChecks(app)]
    if cfn_lint:
        from .cfn_lint_plugin import CfnLintPlugin

        stage = app if isinstance(app, Stage) else Stage.of(app)
        plugins.append(CfnLintPlugin(stage.outdir))
    Validations.of(app).add_plugins(*plugins)
    synth_gate.install(app)


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Record why ``rule`` does not apply to ``construct`` (and its children only)."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgment of {rule} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcards(construct: IConstruct, reason: str) -> None:
    """Acknowledge each IAM5 wildcard finding in the policies under ``construct`` at synth."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"wildcard acknowledgment needs a real reason, got {reason!r}")
    Aspects.of(construct).add(_WildcardAcknowledger(construct, reason))


def flatten_cfn_reference(node: Any) -> str:
    """Python twin of cdk-nag's ``flattenCfnReference``."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_cfn_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_cfn_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_cfn_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def wildcard_findings(policy_document: Any) -> list[str]:
    """The IAM5 findings of a resolved policy document: ``Action::...`` and ``Resource::...``."""
    findings: list[str] = []
    for statement in (policy_document or {}).get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if "*" in action and f"Action::{action}" not in findings:
                findings.append(f"Action::{action}")
        for resource in _as_list(statement.get("Resource")):
            flat = flatten_cfn_reference(resource)
            if "*" in flat and f"Resource::{flat}" not in findings:
                findings.append(f"Resource::{flat}")
    return findings


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@jsii.implements(IAspect)
class _WildcardAcknowledger:
    def __init__(self, owner: IConstruct, reason: str) -> None:
        self._owner = owner
        self._reason = reason

    def visit(self, node: IConstruct) -> None:
        documents = []
        if isinstance(node, (iam.CfnPolicy, iam.CfnManagedPolicy)):
            documents.append(node.policy_document)
        for document in documents:
            for finding in wildcard_findings(Stack.of(node).resolve(document)):
                Validations.of(node).acknowledge(
                    Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=self._reason)
                )
