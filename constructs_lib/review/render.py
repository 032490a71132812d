"""The review report of one environment, and :func:`write_reviews` for all of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from . import diagram, prices, summary
from .cost import CostEstimate, estimate, money, quantity, unit_price
from .diff import EnvironmentDiff, diff_environments, summary_counts
from .iam import Role, collect_roles, proven_calls_of, wildcard_statement_count
from .inventory import Inventory
from .lint import ACCEPTED_WARNINGS, DEFAULT_REGION, Finding, LintCache, cache_path, lint_all
from .md import WARNING, code, codes, plural, table, text
from .model import Environment, load_environment
from .nag import acknowledgments

REVIEW_DIR = "review"

HEADINGS = {
    "summary": summary.HEADING,
    "diagram": diagram.HEADING,
    "iam": "## IAM",
    "cost": "## Estimated monthly baseline cost",
    "nag": "## cdk-nag acknowledgments",
    "lint": "## cfn-lint",
    "diff": "## Changes since baseline",
}
#: Headings every report has (the baseline section only when a baseline is given).
SECTION_HEADINGS = tuple(h for key, h in HEADINGS.items() if key != "diff")

ANY_RESOURCE = f"{WARNING} **`*`**"
#: An acknowledgment covering more resources lists them in a collapsed block.
NAG_RESOURCES_SHOWN = 6


# --------------------------------------------------------------------------- IAM

def render_iam(roles: list[Role]) -> list[str]:
    lines = [HEADINGS["iam"], ""]
    if not roles:
        return lines + ["No IAM roles in the templates.", ""]
    count = wildcard_statement_count(roles)
    flagged = sum(1 for role in roles if any(s.any_resource for s in role.statements))
    lines += [
        f"**{count}** Allow statement{'s' if count != 1 else ''} with Resource `*` "
        f"(marked {ANY_RESOURCE} below) in {plural(flagged, 'role')}; {plural(len(roles), 'role')} in all.",
        "",
    ]
    for role in roles:
        resource = role.resource
        lines += [f"### {code(resource.logical_id)} in {code(resource.stack.name)}", ""]
        if resource.type == "external role":
            lines += ["Role defined outside these templates; policies here attach to it.", ""]
        if role.description:
            lines += [text(role.description), ""]
        name = resource.props.get("RoleName")
        facts = [f"Trust: {'; '.join(code(t) for t in role.trust)}"]
        if name is not None and resource.type != "external role":
            facts.append(f"Role name: {code(resource.display_name)}")
        if role.managed_policy_arns:
            facts.append(f"Managed policies: {codes(role.managed_policy_arns)}")
        lines += [f"- {fact}" for fact in facts] + [""]
        if not role.statements:
            lines += ["No permission statements.", ""]
            continue
        rows = []
        for number, statement in enumerate(role.statements, 1):
            resources = "<br>".join(ANY_RESOURCE if r == "*" and not statement.negated_resources else code(r) for r in statement.resources)
            rows.append((
                number,
                code(statement.source) + (f" {code(statement.sid)}" if statement.sid else ""),
                statement.effect,
                ("NOT " if statement.negated_actions else "") + codes(statement.actions),
                ("NOT " if statement.negated_resources else "") + (resources or "—"),
                code(statement.conditions) if statement.conditions else "—",
            ))
        lines += table(("#", "Policy", "Effect", "Actions", "Resources", "Conditions"), rows) + [""]
        lines += render_proven_calls(resource.logical_id)
    return lines


def render_proven_calls(logical_id: str) -> list[str]:
    """The calls the authorization tests prove this role needs (``proven_calls.json``), or a line saying none are."""
    proven = proven_calls_of(logical_id)
    if proven is None:
        return ["Proven calls: none recorded for this role (tests/authz evaluates the platform's own roles).", ""]
    rows = [(code(action), code(resource), text(why)) for action, resource, why in proven]
    return [
        f"Calls proven needed and allowed ({len(rows)}; tests/authz, evaluated as IAM does; `<env>`, `<account>` and "
        "`<region>` stand for this environment's):",
        "",
        *table(("Action", "Resource", "When"), rows),
        "",
    ]


# --------------------------------------------------------------------------- cost

def render_cost(result: CostEstimate) -> list[str]:
    lines = [
        HEADINGS["cost"], "",
        f"List prices of `{prices.PRICE_REGION}` as of {prices.PRICES_AS_OF} in {prices.CURRENCY} "
        f"(`constructs_lib/review/prices.py`), {prices.HOURS_PER_MONTH} hours a month, no free tier.",
        "",
    ]
    rows = [
        (text(line.item), text(line.detail), quantity(line.quantity, line.price.unit), unit_price(line.price), money(line.monthly))
        for line in result.lines
    ]
    rows.append(("**Total**", "", "", "", f"**{money(result.total)}**"))
    lines += table(("Item", "Basis", "Quantity", "Unit price", "Monthly"), rows) + [""]
    lines += [text(note) for note in result.notes] + [""]
    return lines


# --------------------------------------------------------------------------- cdk-nag

def render_nag(env: Environment) -> list[str]:
    lines = [HEADINGS["nag"], ""]
    found = acknowledgments(env)
    if not found:
        return lines + [
            "No cdk-nag acknowledgments recorded in the templates. cdk-nag writes them to each resource's "
            "`Metadata.cdk_nag.rules_to_suppress` only with `write_suppressions_to_cloud_formation=True`, and for "
            "stacks inside a Stage only when each Stage also gets `WriteNagSuppressionsToCloudFormationAspect` "
            "(app-level aspects do not reach a Stage).",
            "",
        ]
    resources = {r for a in found for r in a.resources}
    lines += [f"{plural(len(found), 'acknowledgment')} on {plural(len(resources), 'resource')}.", ""]
    rows = [(code(a.rule), text(a.reason), _resource_list(a.resources)) for a in found]
    return lines + table(("Rule", "Reason", "Resources"), rows) + [""]


def _resource_list(resources: list) -> str:
    items = [f"{code(r.logical_id)} ({code(r.type)}, {code(r.stack.name)})" for r in resources]
    if len(items) <= NAG_RESOURCES_SHOWN:
        return "<br>".join(items)
    stacks = sorted({r.stack.name for r in resources})
    summary_text = f"{len(items)} resources in {', '.join(code(s) for s in stacks)}"
    return f"<details><summary>{summary_text}</summary>{'<br>'.join(items)}</details>"


# --------------------------------------------------------------------------- cfn-lint

def render_lint(results: dict[str, list[Finding]] | None, region: str) -> list[str]:
    lines = [HEADINGS["lint"], ""]
    if results is None:
        return lines + ["Skipped (`--no-lint`).", ""]
    findings = [(stack, f) for stack, items in results.items() for f in items]
    accepted = [f for _s, f in findings if f.accepted]
    open_findings = [f for _s, f in findings if not f.accepted]
    lines += [
        f"cfn-lint in `{region}` on {plural(len(results), 'template')}: "
        + (f"{plural(len(open_findings), 'finding')} to fix, {len(accepted)} accepted." if findings else "no findings."),
        "",
    ]
    if findings:
        rows = [
            (code(stack), code(f.rule), text(f.message), code(f.path),
             "accepted" if f.accepted else f"**{WARNING} {f.level}, to fix**")
            for stack, f in findings
        ]
        lines += table(("Stack", "Rule", "Message", "Path", "Status"), rows) + [""]
    rules = sorted({f.rule for f in accepted})
    if rules:
        lines += ["Accepted warnings:", ""] + [f"- {code(rule)}: {text(ACCEPTED_WARNINGS[rule])}" for rule in rules] + [""]
    return lines


# --------------------------------------------------------------------------- baseline

def render_diff(diff: EnvironmentDiff) -> list[str]:
    lines = [HEADINGS["diff"], ""]
    if diff.is_new:
        return lines + [f"Environment {code(diff.name)} is new: the baseline has no `assembly-{diff.name}`.", ""]
    counts = summary_counts(diff)
    if not diff.changes and not diff.roles:
        return lines + ["No changes.", ""]
    lines += [
        f"{counts['added']} added, {counts['removed']} removed, {counts['modified']} modified; "
        f"**{counts['replacements']}** replacement{'s' if counts['replacements'] != 1 else ''} likely; "
        f"IAM changes in {plural(counts['roles'], 'role')}.",
        "",
    ]
    for stack in diff.stacks:
        if stack.status == "unchanged":
            continue
        lines += [f"### {code(stack.name)}" + (f" (stack {stack.status})" if stack.status in ("added", "removed") else ""), ""]
        rows = [
            (c.change, code(c.logical_id), code(c.type), codes(c.properties) if c.properties else "—",
             f"**{WARNING} replacement** ({codes(c.replacement)})" if c.replacement else "")
            for c in stack.changes
        ]
        lines += table(("Change", "Logical id", "Type", "Changed", "Replacement"), rows) + [""]
    if diff.replacements:
        lines += ["### Replacements likely", ""]
        lines += table(
            ("Stack", "Logical id", "Type", "Because of"),
            [(code(c.stack), code(c.logical_id), code(c.type), codes(c.replacement)) for c in diff.replacements],
        ) + [""]
    if diff.roles:
        lines += ["### IAM changes", ""]
        for role in diff.roles:
            lines += [f"{code(role.key)} ({role.status}):", "", "```diff"]
            if role.trust_before is not None:
                lines += [f"- trust: {t}" for t in role.trust_before] + [f"+ trust: {t}" for t in role.trust_after or []]
            lines += [f"- {s}" for s in role.removed] + [f"+ {s}" for s in role.added] + ["```", ""]
    return lines


# --------------------------------------------------------------------------- report

def build_report(
    env: Environment,
    config: Any,
    *,
    lint_results: dict[str, list[Finding]] | None = None,
    lint_region: str = "us-east-1",
    baseline: EnvironmentDiff | None = None,
) -> str:
    inventory = Inventory(env, config)
    where = " ".join(p for p in (config.account, config.region) if p) or "account and region of the deploy credentials"
    lines = [
        f"# Review: {env.name}",
        "",
        f"Stacks {codes(s.name for s in env.stacks)} ({where}), read from the synthesized templates; "
        "Dagster+ settings from the environment file.",
        "",
    ]
    lines += summary.render(inventory, config)
    lines += diagram.render(inventory, config)
    lines += render_iam(collect_roles(env))
    lines += render_cost(estimate(inventory, config))
    lines += render_nag(env)
    lines += render_lint(lint_results, lint_region)
    if baseline is not None:
        lines += render_diff(baseline)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def write_reviews(
    outdir: Path,
    configs: Sequence[Any],
    *,
    baseline: Path | None = None,
    lint: bool = True,
) -> list[Path]:
    """Write ``<outdir>/review/<env>.md`` for each environment; return the files written.

    ``baseline``: an earlier ``cdk.out`` to compare with (adds "Changes since baseline").
    ``lint``: run cfn-lint (cached in ``<outdir>/.platform-checks/cfn-lint.json`` by template content,
    which the cfn-lint validation plugin already filled during synth).
    """
    outdir = Path(outdir)
    folder = outdir / REVIEW_DIR
    folder.mkdir(parents=True, exist_ok=True)
    envs = []
    for config in configs:
        env = load_environment(outdir, config.name)
        if env is None:
            raise FileNotFoundError(f"{outdir}: environment '{config.name}' was not synthesized (no assembly-{config.name}/)")
        envs.append((env, config, config.region or DEFAULT_REGION))
    lint_results = None
    if lint:
        cache = LintCache(cache_path(outdir))
        lint_results = lint_all([(env, region) for env, _config, region in envs], cache)
        cache.save()
    written = []
    for env, config, region in envs:
        diff = diff_environments(env, load_environment(baseline, config.name)) if baseline is not None else None
        path = folder / f"{config.name}.md"
        results = lint_results[env.name] if lint_results is not None else None
        path.write_text(build_report(env, config, lint_results=results, lint_region=region, baseline=diff))
        written.append(path)
    return written
