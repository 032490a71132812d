"""cdk-nag acknowledgments recorded in the templates.

With ``write_suppressions_to_cloud_formation`` cdk-nag 3 copies each resource's acknowledgments
(its own and its ancestors') into the resource's CloudFormation metadata, in cdk-nag 2's format::

    "Metadata": {"cdk_nag": {"rules_to_suppress": [{"id": "AwsSolutions-SMG4", "reason": "..."}]}}

cdk-nag 2 also allowed ``applies_to`` (a list of finding strings); it is shown when present.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Environment, Resource, as_list, flatten


@dataclass
class Acknowledgment:
    rule: str
    reason: str
    resources: list[Resource] = field(default_factory=list)


def acknowledgments(env: Environment) -> list[Acknowledgment]:
    """One entry per (rule, reason), with every resource it covers, in template order."""
    found: dict[tuple[str, str], Acknowledgment] = {}
    for resource in env.resources():
        metadata = resource.body.get("Metadata") or {}
        block = metadata.get("cdk_nag") if isinstance(metadata, dict) else None
        for rule in as_list((block or {}).get("rules_to_suppress")):
            if not isinstance(rule, dict) or not rule.get("id"):
                continue
            rule_id = str(rule["id"])
            applies_to = [flatten(item) if not isinstance(item, dict) else flatten(item.get("regex", item)) for item in as_list(rule.get("applies_to"))]
            if applies_to:
                rule_id = f"{rule_id} (applies to {', '.join(applies_to)})"
            entry = found.setdefault((rule_id, str(rule.get("reason", ""))), Acknowledgment(rule_id, str(rule.get("reason", ""))))
            if resource not in entry.resources:
                entry.resources.append(resource)
    return sorted(found.values(), key=lambda a: (a.rule.split("[", 1)[0], a.rule, a.reason))
