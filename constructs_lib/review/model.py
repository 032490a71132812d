"""A synthesized environment read back from ``cdk.out``: its stacks, templates and Dagster files.

Pure JSON/YAML: nothing here imports ``aws_cdk``, so the review runs on a saved ``cdk.out`` too.
The layout is CDK's: ``<outdir>/assembly-<env>/manifest.json`` lists the environment's stacks
(``aws:cloudformation:stack`` artifacts, display names such as ``dev/storage``), each with its
``templateFile``; ``app.write_artifacts`` puts the Dagster files in ``<outdir>/dagster/<env>/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

#: Properties that carry a resource's physical name, by type, to match literal names and ARNs.
NAME_PROPERTIES: dict[str, str] = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::Service": "ServiceName",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::ECR::Repository": "RepositoryName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Events::Rule": "Name",
}

PSEUDO_PARAMETERS = {
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
    "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def flatten(value: Any) -> str:
    """A readable string for a template value: intrinsics become ``<LogicalId>``-style placeholders.

    ``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ecs:...:service/", {"Ref": "Cluster"}, "/*"]]}``
    reads ``arn:<AWS::Partition>:ecs:...:service/<Cluster>/*`` (the convention cdk-nag uses).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list):
        return ", ".join(flatten(item) for item in value)
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [flatten(item) for item in arg]
            return f"<{'.'.join(parts)}>"
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
            return str(arg[0]).join(flatten(item) for item in arg[1])
        if key == "Fn::Sub":
            template, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            return re.sub(
                r"\$\{([^}!][^}]*)\}",
                lambda m: flatten(variables[m.group(1)]) if m.group(1) in variables else f"<{m.group(1)}>",
                template,
            )
        if key == "Fn::ImportValue":
            return f"<import:{flatten(arg)}>"
        if key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
            index, items = arg
            if isinstance(items, list) and isinstance(index, (int, str)) and str(index).isdigit() and int(index) < len(items):
                return flatten(items[int(index)])
            return f"<item {flatten(index)} of {flatten(items)}>"
        if key == "Fn::GetAZs":
            return "<AZs>"
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            return f"<if {arg[0]}: {flatten(arg[1])} else {flatten(arg[2])}>"
        if key == "Fn::Split" and isinstance(arg, list) and len(arg) == 2:
            return f"<split {flatten(arg[1])} on '{arg[0]}'>"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def referenced_ids(value: Any) -> list[str]:
    """Logical ids (not pseudo parameters) a value refers to, in order, without repeats."""
    found: list[str] = []

    def add(name: str) -> None:
        if name not in PSEUDO_PARAMETERS and name not in found:
            found.append(name)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if len(node) == 1:
                (key, arg), = node.items()
                if key == "Ref" and isinstance(arg, str):
                    add(arg)
                    return
                if key == "Fn::GetAtt":
                    add(arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0]))
                    return
                if key == "Fn::Sub":
                    template = arg if isinstance(arg, str) else arg[0]
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", template):
                        add(name.split(".", 1)[0])
                    if isinstance(arg, list) and len(arg) > 1:
                        walk(arg[1])
                    return
            for item in node.values():
                walk(item)

    walk(value)
    return found


@dataclass(eq=False)
class Resource:
    stack: Stack
    logical_id: str
    body: dict

    @property
    def type(self) -> str:
        return self.body.get("Type", "")

    @property
    def props(self) -> dict:
        return self.body.get("Properties") or {}

    @property
    def key(self) -> str:
        """``dev/platform/AgentService1234``: unique across the environment."""
        return f"{self.stack.name}/{self.logical_id}"

    @property
    def physical_name(self) -> str | None:
        """The literal physical name, when the template sets one."""
        name = self.props.get(NAME_PROPERTIES.get(self.type, ""))
        return name if isinstance(name, str) else None

    @property
    def display_name(self) -> str:
        """The physical name when literal, otherwise the name as the template builds it, or the logical id."""
        name = self.props.get(NAME_PROPERTIES.get(self.type, ""))
        return flatten(name) if name is not None else self.logical_id

    def __repr__(self) -> str:
        return f"Resource({self.key}, {self.type})"


@dataclass(eq=False)
class Stack:
    name: str
    artifact_id: str
    template_file: Path
    text: str
    template: dict
    resources: dict[str, Resource] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def outputs(self) -> dict:
        return self.template.get("Outputs") or {}


@dataclass(eq=False)
class Environment:
    """One environment's synthesized stacks and Dagster files."""

    name: str
    directory: Path
    stacks: list[Stack]
    artifacts: dict[str, str] = field(default_factory=dict)

    def resources(self, *types: str) -> list[Resource]:
        return [
            resource
            for stack in self.stacks
            for resource in stack.resources.values()
            if not types or resource.type in types
        ]

    def stack(self, name: str) -> Stack | None:
        return next((stack for stack in self.stacks if stack.name == name or stack.short_name == name), None)

    @cached_property
    def exports(self) -> dict[str, tuple[Stack, Any]]:
        found = {}
        for stack in self.stacks:
            for output in stack.outputs.values():
                export = (output.get("Export") or {}).get("Name")
                if export is not None:
                    found[flatten(export)] = (stack, output.get("Value"))
        return found

    @cached_property
    def _by_name(self) -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = {}
        for resource in self.resources():
            if resource.physical_name:
                index.setdefault(resource.physical_name, []).append(resource)
        return index

    @cached_property
    def _by_name_expression(self) -> dict[str, list[Resource]]:
        """Names built with intrinsics (``dagster-dev-x-<AWS::AccountId>``), by canonical JSON: the
        same expression in another stack names the same resource."""
        index: dict[str, list[Resource]] = {}
        for resource in self.resources():
            name = resource.props.get(NAME_PROPERTIES.get(resource.type, ""))
            if isinstance(name, dict):
                index.setdefault(json.dumps(name, sort_keys=True), []).append(resource)
        return index

    def resolve(self, value: Any, stack: Stack, *types: str) -> Resource | None:
        """The resource a value points at: a Ref/GetAtt, an import of another stack's export, a literal
        name or ARN of a resource with a literal name, or the one resource an ARN built with Join/Sub names."""
        for resource in self.resolve_all(value, stack):
            if not types or resource.type in types:
                return resource
        return None

    def resolve_all(self, value: Any, stack: Stack) -> list[Resource]:
        if isinstance(value, str):
            return self._match_literal(value)
        if isinstance(value, dict) and len(value) == 1 and "Fn::ImportValue" in value:
            exported = self.exports.get(flatten(value["Fn::ImportValue"]))
            return self.resolve_all(exported[1], exported[0]) if exported else []
        found: list[Resource] = []
        if isinstance(value, dict) and json.dumps(value, sort_keys=True) in self._by_name_expression:
            return list(self._by_name_expression[json.dumps(value, sort_keys=True)])
        if isinstance(value, dict) and "Fn::ImportValue" not in json.dumps(value):
            for logical_id in referenced_ids(value):
                if logical_id in stack.resources:
                    found.append(stack.resources[logical_id])
            if not found:
                # An ARN joined from pseudo parameters and a literal name: arn:<AWS::Partition>:sqs:...:alerts
                text = re.sub(r"<[^<>]*>", "x", flatten(value))
                if text.startswith("arn:"):
                    found = self._match_literal(text)
        elif isinstance(value, (dict, list)):
            for item in (value.values() if isinstance(value, dict) else value):
                found.extend(r for r in self.resolve_all(item, stack) if r not in found)
        return found

    def _match_literal(self, text: str) -> list[Resource]:
        if text in self._by_name:
            return list(self._by_name[text])
        if text.startswith("arn:"):
            tail = text.split(":", 5)[-1] if text.count(":") >= 5 else ""
            for name, resources in self._by_name.items():
                if tail in (name, f"log-group:{name}", f"log-group:{name}:*") or tail.endswith(("/" + name, ":" + name)):
                    return list(resources)
        return []

    def container_environment(self, task_definition: Resource) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for container in as_list(task_definition.props.get("ContainerDefinitions")):
            for item in as_list(container.get("Environment")):
                if isinstance(item, dict) and "Name" in item:
                    values[item["Name"]] = item.get("Value")
        return values


def environment_names(outdir: Path) -> list[str]:
    return sorted(path.name[len("assembly-"):] for path in Path(outdir).glob("assembly-*") if path.is_dir())


def load_environment(outdir: str | Path, name: str) -> Environment | None:
    """The environment ``name`` synthesized into ``outdir``, or None when it is not there."""
    outdir = Path(outdir)
    directory = outdir / f"assembly-{name}"
    manifest_file = directory / "manifest.json"
    if not manifest_file.is_file():
        return None
    manifest = json.loads(manifest_file.read_text())
    stacks = []
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = directory / artifact["properties"]["templateFile"]
        text = template_file.read_text()
        stack = Stack(
            name=artifact.get("displayName") or artifact_id,
            artifact_id=artifact_id,
            template_file=template_file,
            text=text,
            template=json.loads(text),
        )
        stack.resources = {
            logical_id: Resource(stack, logical_id, body)
            for logical_id, body in (stack.template.get("Resources") or {}).items()
        }
        stacks.append(stack)
    artifacts = {}
    artifact_dir = outdir / "dagster" / name
    if artifact_dir.is_dir():
        artifacts = {path.name: path.read_text() for path in sorted(artifact_dir.iterdir()) if path.is_file()}
    return Environment(name=name, directory=directory, stacks=stacks, artifacts=artifacts)


def iter_statements(document: Any) -> Iterator[dict]:
    for statement in as_list((document or {}).get("Statement") if isinstance(document, dict) else None):
        if isinstance(statement, dict):
            yield statement
