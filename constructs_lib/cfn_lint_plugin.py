"""cfn-lint as a CDK policy-validation plugin: its findings land in ``cdk.out/validation-report.json``
next to cdk-nag's, with the construct path of each resource, and fail synth like them.

``attach_platform_checks`` registers it. Each template is linted in its stack's region
(``us-east-1`` for an environment-agnostic stack). Errors (``E...``) fail synth; warnings other
than the accepted ones (``ACCEPTED_WARNINGS``) are reported as warnings. Results are cached in
``<outdir>/.platform-checks/cfn-lint.json`` by the SHA-256 of the template text, the region and the
cfn-lint version, so an unchanged template costs nothing and the review report reuses them.
A finding can be acknowledged like a cdk-nag one, with the plugin name as prefix:
``constructs_lib.nag.acknowledge(construct, "cfn-lint::E3024", reason)``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import jsii
from aws_cdk import IPolicyValidationContext, IPolicyValidationPlugin, PolicyValidationPluginReport, PolicyViolation
from aws_cdk import PolicyViolatingResource

from .review.lint import ACCEPTED_WARNINGS, DEFAULT_REGION, Finding, LintCache, cache_path, cfn_lint_version, lint_many

PLUGIN_NAME = "cfn-lint"


def _region(stack_region: str | None) -> str:
    if not stack_region or stack_region.startswith("${Token") or stack_region == "unknown-region":
        return DEFAULT_REGION
    return stack_region


def lint_templates(jobs: list[tuple[str, str]], cache: LintCache) -> list[list[Finding]]:
    """Findings for each (template text, region), linting only what the cache does not hold."""
    keys = [cache.key(text, region) for text, region in jobs]
    results = {key: cache.get(key) for key in keys}
    pending = {key: job for key, job in zip(keys, jobs) if results[key] is None}
    if pending:
        for key, findings in zip(pending, lint_many(list(pending.values()))):
            cache.put(key, findings)
            results[key] = findings
    cache.save()
    return [results[key] for key in keys]


def _violations(template_path: str, findings: list[Finding]) -> list[PolicyViolation]:
    grouped: dict[tuple[str, str], list[tuple[str | None, str]]] = defaultdict(list)
    for finding in findings:
        if finding.level not in ("error", "warning") or finding.accepted:
            continue
        parts = finding.path.split("/")
        logical_id = parts[1] if len(parts) > 1 and parts[0] == "Resources" else None
        grouped[(finding.rule, finding.message)].append((logical_id, finding.path))
    violations = []
    for (rule, message), places in grouped.items():
        violations.append(
            PolicyViolation(
                rule_name=rule,
                description=message,
                severity="error" if rule.startswith("E") else "warning",
                violating_resources=[
                    PolicyViolatingResource(
                        template_path=template_path, resource_logical_id=logical_id, locations=[location]
                    )
                    for logical_id, location in places
                ],
                fix=f"https://github.com/aws-cloudformation/cfn-lint/blob/main/docs/rules.md ({rule})",
            )
        )
    return violations


@jsii.implements(IPolicyValidationPlugin)
class CfnLintPlugin:
    """Lints every synthesized template with cfn-lint; errors fail synth.

    :param cache_dir: the cloud assembly directory (``app.outdir``) whose ``.platform-checks/``
        folder keeps the results by template content.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self._cache_file = cache_path(Path(cache_dir))

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str | None:
        return cfn_lint_version()

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        stacks = list(context.stack_templates)
        jobs = [(Path(stack.template_path).read_text(), _region(stack.region)) for stack in stacks]
        results = lint_templates(jobs, LintCache(self._cache_file))
        violations = [v for stack, findings in zip(stacks, results) for v in _violations(stack.template_path, findings)]
        return PolicyValidationPluginReport(
            success=not any(v.severity == "error" for v in violations),
            violations=violations,
            plugin_version=cfn_lint_version(),
        )


__all__ = ["ACCEPTED_WARNINGS", "CfnLintPlugin", "PLUGIN_NAME", "lint_templates"]
