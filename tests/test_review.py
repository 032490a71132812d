"""The review report (``cdk.out/review/<env>.md``): sections, numbers taken from the templates,
IAM wildcards, the Mermaid diagram, the cost estimate, cdk-nag acknowledgments, cfn-lint and the
changes since a baseline ``cdk.out``.

Expected values are computed here from the templates (independently of the report code) or from
the price table; nothing is a hard-coded number of today's templates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from constructs_lib.config import load_environments
from constructs_lib.review import SECTION_HEADINGS, write_reviews
from constructs_lib.review import prices
from constructs_lib.review.cost import estimate, money
from constructs_lib.review.diff import diff_environments
from constructs_lib.review.iam import statements_of
from constructs_lib.review.inventory import Inventory
from constructs_lib.review.model import load_environment
from constructs_lib.review.render import HEADINGS
from tests.support import CONFIG_DIR, synthesize

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"
HOURS = prices.HOURS_PER_MONTH
ANY_RESOURCE = "⚠️ **`*`**"


# ----------------------------------------------------------------------------- helpers

class Synth:
    def __init__(self, synthesized, configs, paths):
        self.synthesized = synthesized
        self.outdir = synthesized.outdir
        self.configs = {c.name: c for c in configs}
        self.paths = {p.stem: p for p in paths}

    def report(self, env: str) -> str:
        return self.paths[env].read_text()

    def templates(self, env: str) -> dict[str, dict]:
        return self.synthesized.templates[env]

    def count(self, env: str, resource_type: str) -> int:
        """Resources of a type in all stacks (logical ids may repeat across stacks)."""
        return sum(
            1 for template in self.templates(env).values()
            for resource in template["Resources"].values() if resource["Type"] == resource_type
        )

    def resources(self, env: str, resource_type: str) -> dict[str, dict]:
        return {
            logical_id: resource
            for template in self.templates(env).values()
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == resource_type
        }


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synth:
    synthesized = synthesize(CONFIG_DIR, tmp_path_factory.mktemp("cdk.out"))
    configs = load_environments(CONFIG_DIR)
    paths = write_reviews(synthesized.outdir, configs)
    return Synth(synthesized, configs, paths)


ENVIRONMENTS = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def section(report: str, heading: str) -> str:
    start = report.index(heading + "\n")
    following = report.find("\n## ", start + len(heading))
    return report[start: following if following != -1 else len(report)]


def subsection(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    following = text.find("\n### ", start + len(heading))
    return text[start: following if following != -1 else len(text)]


def table_row(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def mermaid(report: str) -> str:
    match = re.search(r"```mermaid\n(.*?)\n```", report, re.S)
    assert match, "no mermaid block"
    return match.group(1)


def as_list(value):
    return value if isinstance(value, list) else [] if value is None else [value]


def wildcard_statements_from_templates(templates: dict[str, dict]) -> int:
    """Allow statements with Resource '*' in role policies, counted straight from the templates."""
    count = 0
    roles = {lid for t in templates.values() for lid, r in t["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    for template in templates.values():
        for resource in template["Resources"].values():
            documents = []
            if resource["Type"] == "AWS::IAM::Role":
                documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and resource["Properties"].get("Roles"):
                assert all(r.get("Ref") in roles for r in resource["Properties"]["Roles"] if isinstance(r, dict))
                documents = [resource["Properties"]["PolicyDocument"]]
            for document in documents:
                for statement in as_list(document.get("Statement")):
                    if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource")):
                        count += 1
    return count


def agent_resources(synth: Synth, env: str) -> tuple[dict, dict]:
    """(service, task definition) of the agent, found in the templates by the configured image."""
    image = synth.configs[env].agent.image
    tasks = synth.resources(env, "AWS::ECS::TaskDefinition")
    for service in synth.resources(env, "AWS::ECS::Service").values():
        task = tasks[service["Properties"]["TaskDefinition"]["Ref"]]
        if any(c["Image"].startswith(image + ":") for c in task["Properties"]["ContainerDefinitions"]):
            return service, task
    raise AssertionError("no agent service")


# ----------------------------------------------------------------------------- sections

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_gets_a_report_with_every_section(synth, env):
    report = synth.report(env)
    assert synth.paths[env] == synth.outdir / "review" / f"{env}.md"
    assert report.startswith(f"# Review: {env}\n")
    positions = [report.index(heading + "\n") for heading in SECTION_HEADINGS]
    assert positions == sorted(positions)
    assert HEADINGS["diff"] not in report  # no baseline given


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_agent_numbers_are_the_templates_and_match_the_environment_file(synth, env):
    config = synth.configs[env].agent
    service, task = agent_resources(synth, env)
    agent = subsection(section(synth.report(env), HEADINGS["summary"]), "### Agent")
    desired, cpu, memory = service["Properties"]["DesiredCount"], int(task["Properties"]["Cpu"]), int(task["Properties"]["Memory"])
    assert (desired, cpu, memory) == (config.replicas, config.cpu, config.memory)
    assert table_row(agent, "Replicas (desired count)")[1] == str(desired)
    assert table_row(agent, "CPU / memory")[1] == f"{cpu} CPU units ({cpu / 1024:g} vCPU) / {memory} MiB"
    deployment = service["Properties"]["DeploymentConfiguration"]
    expected = "zero-downtime 200/100" if config.zero_downtime_deploys else "stop-then-start 100/0"
    assert f"{deployment['MaximumPercent']}/{deployment['MinimumHealthyPercent']}" == expected.split()[-1]
    assert table_row(agent, "Deploy mode")[1].startswith(expected)
    assert table_row(agent, "Version")[1] == f"`{config.version}`"
    assert "⚠️" not in agent  # nothing differs from the environment file


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nat_gateways_and_log_retention_are_the_templates(synth, env):
    config = synth.configs[env]
    summary = section(synth.report(env), HEADINGS["summary"])
    nats = len(synth.resources(env, "AWS::EC2::NatGateway"))
    assert nats == (config.network.nat_gateways if config.network.mode == "private" else 0)
    assert table_row(subsection(summary, "### Network and cluster"), "NAT gateways")[1] == str(nats)

    logs = subsection(summary, "### Log groups")
    groups = synth.resources(env, "AWS::Logs::LogGroup")
    for logical_id, group in groups.items():
        name = group["Properties"].get("LogGroupName", logical_id)
        assert table_row(logs, f"`{name}`")[2] == f"{group['Properties']['RetentionInDays']} days"
    _service, task = agent_resources(synth, env)
    agent_group = task["Properties"]["ContainerDefinitions"][0]["LogConfiguration"]["Options"]["awslogs-group"]
    by_name = {g["Properties"].get("LogGroupName"): g for g in groups.values()}
    assert by_name[agent_group]["Properties"]["RetentionInDays"] == config.agent.log_retention_days
    assert table_row(logs, f"`{agent_group}`")[1] == "agent"
    [workload_row] = [line for line in logs.splitlines() if "| code servers and runs |" in line]
    assert f"| {config.logging.workload_retention_days} days |" in workload_row


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_buckets_table_lists_every_bucket_of_the_templates(synth, env):
    buckets = subsection(section(synth.report(env), HEADINGS["summary"]), "### Buckets")
    found = synth.resources(env, "AWS::S3::Bucket")
    if not found:
        assert "No S3 buckets in the templates" in buckets
    from constructs_lib.review.model import flatten

    for logical_id, bucket in found.items():
        name = flatten(bucket["Properties"].get("BucketName", logical_id))  # names built with Fn::Join read <AWS::Region>
        row = table_row(buckets, f"`{name}`")
        for rule in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", []):
            if "ExpirationInDays" in rule:
                assert f"expire after {rule['ExpirationInDays']} days" in row[4]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_compute_log_bucket_is_the_one_the_agent_dagster_yaml_names(synth, env):
    import yaml

    instance = yaml.safe_load((synth.outdir / "dagster" / env / "dagster.yaml").read_text())
    bucket_value = instance["compute_logs"]["config"]["bucket"]
    _service, task = agent_resources(synth, env)
    if isinstance(bucket_value, dict):  # {env: NAME}: the agent container's environment holds the name
        variables = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
        bucket_value = variables[bucket_value["env"]]
    [(logical_id, bucket)] = [
        (lid, b) for lid, b in synth.resources(env, "AWS::S3::Bucket").items()
        if b["Properties"].get("BucketName") == bucket_value or {"Ref": lid} == bucket_value
    ]
    from constructs_lib.review.model import flatten

    report = synth.report(env)
    buckets = subsection(section(report, HEADINGS["summary"]), "### Buckets")
    row = table_row(buckets, f"`{flatten(bucket['Properties'].get('BucketName', logical_id))}`")
    assert row[1] == "compute logs"
    days = synth.configs[env].storage.compute_logs.expiration_days
    assert f"expire after {days} days" in row[4]
    assert f'n_code_locations -->|"compute logs"| n_bucket_{logical_id}' in mermaid(report)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_forwarding_table_lists_each_delivery_stream_and_its_log_groups(synth, env):
    forwarding = subsection(section(synth.report(env), HEADINGS["summary"]), "### Log forwarding")
    streams = synth.resources(env, "AWS::KinesisFirehose::DeliveryStream")
    if not streams:
        assert "no Firehose delivery stream is in the templates" in forwarding or "Log forwarding is off" in forwarding
    groups = {lid: g["Properties"].get("LogGroupName", lid) for lid, g in synth.resources(env, "AWS::Logs::LogGroup").items()}
    for logical_id, stream in streams.items():
        row = table_row(forwarding, f"`{stream['Properties'].get('DeliveryStreamName', logical_id)}`")
        http = stream["Properties"].get("HttpEndpointDestinationConfiguration")
        if http:
            assert f"`{http['EndpointConfiguration']['Url']}`" in row[1]
        for subscription in synth.resources(env, "AWS::Logs::SubscriptionFilter").values():
            if subscription["Properties"]["DestinationArn"] == {"Fn::GetAtt": [logical_id, "Arn"]}:
                group = subscription["Properties"]["LogGroupName"]
                name = groups[group["Ref"]] if isinstance(group, dict) and "Ref" in group else group
                assert f"`{name}`" in row[3]


# ----------------------------------------------------------------------------- IAM

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_iam_lists_every_role_and_flags_each_any_resource_statement(synth, env):
    iam = section(synth.report(env), HEADINGS["iam"])
    for logical_id in synth.resources(env, "AWS::IAM::Role"):
        assert f"### `{logical_id}` in " in iam
    expected = wildcard_statements_from_templates(synth.templates(env))
    assert expected > 0  # the agent's list/describe APIs have no resource scope
    assert re.search(rf"^\*\*{expected}\*\* Allow statements? with Resource `\*`", iam, re.M)
    flagged_rows = [line for line in iam.splitlines() if line.startswith("|") and ANY_RESOURCE in line]
    assert len(flagged_rows) == expected


def test_iam_flattens_intrinsics_to_readable_placeholders(synth):
    iam = section(synth.report("prod"), HEADINGS["iam"])
    [cluster] = synth.resources("prod", "AWS::ECS::Cluster")
    assert f":service/<{cluster}>/*`" in iam
    assert f"<{cluster}.Arn>" in iam


# ----------------------------------------------------------------------------- diagram

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_diagram_is_sane_mermaid_with_one_node_per_code_location(synth, env):
    chart = mermaid(synth.report(env))
    lines = chart.splitlines()
    assert lines[0] == "flowchart LR"
    for opening, closing in ("()", "[]", "{}"):
        depth = 0
        for char in chart:
            depth += char == opening
            depth -= char == closing
            assert depth >= 0
        assert depth == 0, f"unbalanced {opening}{closing}"
    for line in lines:
        assert line.count('"') % 2 == 0, line
    assert sum(line.strip().startswith("subgraph ") for line in lines) == sum(line.strip() == "end" for line in lines)

    definitions = {}
    for line in lines:
        match = re.match(r'\s*(?:subgraph )?(n_\w+)[\[\(\{]', line)
        if match:
            assert match.group(1) not in definitions, f"{match.group(1)} defined twice"
            definitions[match.group(1)] = line
    for line in lines:
        if "-->" in line or "-.->" in line:
            source, target = re.match(r"\s*(\w+) .*?(?:-->|-\.->)(?:\|\".*?\"\|)? (\w+)$", line).groups()
            assert source in definitions and target in definitions, line
    for name in synth.configs[env].code_locations:
        assert len([d for d in definitions.values() if f'"code location: {name}<br/>' in d]) == 1
    service, _task = agent_resources(synth, env)
    [agent_node] = [d for d in definitions.values() if "Dagster+ agent service" in d]
    assert f"{service['Properties']['DesiredCount']} × " in agent_node


def test_diagram_labels_are_escaped():
    from constructs_lib.review.diagram import escape, label

    assert escape('a "b" (c) [d] {e} <f> #1 | `g`') == "a #quot;b#quot; #40;c#41; #91;d#93; #123;e#125; #lt;f#gt; #35;1 #124; #96;g#96;"
    assert label("x<y", None, "z") == "x#lt;y<br/>z"


# ----------------------------------------------------------------------------- cost

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_agent_cost_is_count_times_size_times_hours_at_list_price(synth, env):
    service, task = agent_resources(synth, env)
    count = service["Properties"]["DesiredCount"]
    vcpu = int(task["Properties"]["Cpu"]) / 1024
    gb = int(task["Properties"]["Memory"]) / 1024
    expected_cpu = count * HOURS * vcpu * prices.FARGATE_VCPU_HOUR.amount
    expected_memory = count * HOURS * gb * prices.FARGATE_GB_HOUR.amount

    env_model = load_environment(synth.outdir, env)
    result = estimate(Inventory(env_model, synth.configs[env]), synth.configs[env])
    assert result.subtotal("Fargate vCPU: agent service") == pytest.approx(expected_cpu, rel=1e-12)
    assert result.subtotal("Fargate memory: agent service") == pytest.approx(expected_memory, rel=1e-12)

    cost = section(synth.report(env), HEADINGS["cost"])
    assert table_row(cost, "Fargate vCPU: agent service")[-1] == money(expected_cpu)
    assert table_row(cost, "Fargate memory: agent service")[-1] == money(expected_memory)
    assert table_row(cost, "**Total**")[-1] == f"**{money(result.total)}**"
    assert result.total == pytest.approx(sum(line.quantity * line.price.amount for line in result.lines))
    assert prices.PRICES_AS_OF in cost and prices.PRICE_REGION in cost and "not included" in cost


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cost_counts_nat_gateways_keys_and_secrets_of_the_templates(synth, env):
    result = estimate(Inventory(load_environment(synth.outdir, env), synth.configs[env]), synth.configs[env])
    lines = {line.item: line for line in result.lines}
    nats = synth.count(env, "AWS::EC2::NatGateway")
    assert (lines["NAT gateways"].monthly if nats else 0) == pytest.approx(nats * HOURS * prices.NAT_GATEWAY_HOUR.amount)
    for item, resource_type, price in (
        ("KMS keys", "AWS::KMS::Key", prices.KMS_KEY_MONTH),
        ("Secrets Manager secrets (created by these stacks)", "AWS::SecretsManager::Secret", prices.SECRET_MONTH),
    ):
        count = synth.count(env, resource_type)
        assert (lines[item].monthly if count else 0) == pytest.approx(count * price.amount)
    gib = synth.configs[env].logging.estimated_gib_per_month
    assert lines["CloudWatch Logs ingestion"].monthly == pytest.approx(gib * prices.LOGS_INGESTION_GB.amount)


def test_two_small_agents_cost_exactly_the_formula(tmp_path, synth):
    """2 × 730 × (0.25 × vCPU-hour + 0.5 × GB-hour), with the dev template's agent resized."""
    outdir = tmp_path / "cdk.out"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("asset.*", "review"))
    env = load_environment(outdir, "dev")
    service = Inventory(env, synth.configs["dev"]).agent
    service.resource.props["DesiredCount"] = 2
    service.task_definition.props.update(Cpu="256", Memory="512")
    result = estimate(Inventory(env, synth.configs["dev"]), synth.configs["dev"])
    agent = result.subtotal("Fargate vCPU: agent service") + result.subtotal("Fargate memory: agent service")
    assert agent == pytest.approx(2 * 730 * (0.25 * prices.FARGATE_VCPU_HOUR.amount + 0.5 * prices.FARGATE_GB_HOUR.amount), rel=1e-12)


# ----------------------------------------------------------------------------- cdk-nag and cfn-lint

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nag_section_lists_every_acknowledgment_in_the_templates(synth, env):
    nag = section(synth.report(env), HEADINGS["nag"])
    recorded = [
        (logical_id, rule)
        for template in synth.templates(env).values()
        for logical_id, resource in template["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    if not recorded:
        assert "No cdk-nag acknowledgments recorded in the templates" in nag
    rows = [line for line in nag.splitlines() if line.startswith("| `")]
    for logical_id, rule in recorded:
        cell = f"`{rule['id']}`".replace("|", "\\|")
        assert any(row.startswith(f"| {cell} | ") and f"`{logical_id}`" in row for row in rows), (logical_id, rule["id"])


def test_nag_reads_the_metadata_cdk_nag_writes(tmp_path):
    """The format written by AwsSolutionsChecks(write_suppressions_to_cloud_formation=True) plus the
    aspect on the Stage (app-level aspects do not reach a Stage's constructs)."""
    from aws_cdk import App, AspectPriority, Aspects, Stack, Stage, Validations
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks, WriteNagSuppressionsToCloudFormationAspect

    from constructs_lib.nag import acknowledge

    app = App(outdir=str(tmp_path))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    stage = Stage(app, "probe")
    Aspects.of(stage).add(WriteNagSuppressionsToCloudFormationAspect(), priority=AspectPriority.READONLY)
    queue = sqs.Queue(Stack(stage, "stack"), "Queue")
    acknowledge(queue, "AwsSolutions-SQS3", "A probe queue without a dead-letter queue on purpose.")
    acknowledge(queue, "AwsSolutions-SQS4", "A probe queue that is never reached over plain HTTP.")
    app.synth()
    template = json.loads(next((tmp_path / "assembly-probe").glob("*.template.json")).read_text())
    [(logical_id, resource)] = template["Resources"].items()
    assert resource["Metadata"]["cdk_nag"]["rules_to_suppress"] == [
        {"id": "AwsSolutions-SQS3", "reason": "A probe queue without a dead-letter queue on purpose."},
        {"id": "AwsSolutions-SQS4", "reason": "A probe queue that is never reached over plain HTTP."},
    ]
    from constructs_lib.review.nag import acknowledgments

    found = acknowledgments(load_environment(tmp_path, "probe"))
    assert [(a.rule, [r.logical_id for r in a.resources]) for a in found] == [
        ("AwsSolutions-SQS3", [logical_id]), ("AwsSolutions-SQS4", [logical_id]),
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_lint_section_shows_cfn_lint_findings_and_accepted_warnings(synth, env):
    from constructs_lib.review.lint import ACCEPTED_WARNINGS, lint_text

    lint = section(synth.report(env), HEADINGS["lint"])
    region = synth.configs[env].region or "us-east-1"
    expected = [f for stack in load_environment(synth.outdir, env).stacks for f in lint_text(stack.text, region)]
    rows = [line for line in lint.splitlines() if line.startswith("| `")]
    assert len(rows) == len(expected)
    for finding in expected:
        assert any(f"`{finding.rule}`" in row and f"`{finding.path}`" in row for row in rows)
    if not expected:
        assert "no findings" in lint
    for rule in {f.rule for f in expected if f.rule in ACCEPTED_WARNINGS}:
        assert f"- `{rule}`: " in lint
    assert "to fix**" not in lint  # the example environments lint clean apart from accepted warnings
    assert (synth.outdir / ".platform-checks" / "cfn-lint.json").is_file()


def test_lint_cache_is_used_and_no_lint_skips(synth, tmp_path, monkeypatch):
    outdir = tmp_path / "cdk.out"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("asset.*"))
    from constructs_lib.review import lint as lint_module

    def fail(*_args, **_kwargs):
        raise AssertionError("cfn-lint ran although every template is cached")

    monkeypatch.setattr(lint_module, "lint_many", fail)
    configs = list(synth.configs.values())
    write_reviews(outdir, configs)
    assert (outdir / "review" / "dev.md").read_text() == synth.report("dev")
    write_reviews(outdir, configs, lint=False)
    assert "Skipped (`--no-lint`)." in section((outdir / "review" / "dev.md").read_text(), HEADINGS["lint"])


# ----------------------------------------------------------------------------- baseline

def _template_path(outdir: Path, env: str, stack: str) -> Path:
    manifest = json.loads((outdir / f"assembly-{env}" / "manifest.json").read_text())
    [file] = [
        a["properties"]["templateFile"] for a in manifest["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack" and a.get("displayName") == f"{env}/{stack}"
    ]
    return outdir / f"assembly-{env}" / file


def test_changes_since_baseline_lists_exactly_what_changed(synth, tmp_path):
    new = tmp_path / "new"
    shutil.copytree(synth.outdir, new, ignore=shutil.ignore_patterns("asset.*"))
    platform_file, storage_file = _template_path(new, "dev", "platform"), _template_path(new, "dev", "storage")
    platform, storage = json.loads(platform_file.read_text()), json.loads(storage_file.read_text())

    # added: a queue
    platform["Resources"]["ReviewProbeQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "review-probe"}}
    # removed: one resource that is not a role, policy, bucket or log group
    removed = next(lid for lid, r in platform["Resources"].items() if r["Type"] not in (
        "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SQS::Queue"))
    removed_type = platform["Resources"].pop(removed)["Type"]
    # renamed: a bucket when there is one, else a log group (both force replacement)
    templates = {"platform": platform, "storage": storage}
    kind, prop = ("AWS::S3::Bucket", "BucketName") if any(
        r["Type"] == "AWS::S3::Bucket" for t in templates.values() for r in t["Resources"].values()) else ("AWS::Logs::LogGroup", "LogGroupName")
    renamed_stack, renamed = next((name, lid) for name, t in templates.items() for lid, r in t["Resources"].items() if r["Type"] == kind)
    templates[renamed_stack]["Resources"][renamed]["Properties"][prop] = "review-probe-renamed"
    # IAM: one statement more in a role's policy
    policy_id, policy = next((lid, r) for lid, r in platform["Resources"].items() if r["Type"] == "AWS::IAM::Policy")
    statement = {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": ["ReviewProbeQueue", "Arn"]}}
    policy["Properties"]["PolicyDocument"]["Statement"].append(statement)
    role = policy["Properties"]["Roles"][0]["Ref"]
    # metadata only: not a change
    next(iter(storage["Resources"].values())).setdefault("Metadata", {})["note"] = "metadata changes nothing in AWS"
    platform_file.write_text(json.dumps(platform))
    storage_file.write_text(json.dumps(storage))

    configs = list(synth.configs.values())
    write_reviews(new, configs, baseline=synth.outdir, lint=False)
    diff = diff_environments(load_environment(new, "dev"), load_environment(synth.outdir, "dev"))
    changes = {(c.change, c.stack.split("/")[1], c.logical_id) for c in diff.changes}
    assert changes == {
        ("added", "platform", "ReviewProbeQueue"),
        ("removed", "platform", removed),
        ("modified", renamed_stack, renamed),
        ("modified", "platform", policy_id),
    }
    assert [(c.logical_id, c.replacement) for c in diff.replacements] == [(renamed, [prop])]
    [role_diff] = diff.roles
    [added] = statements_of({"Statement": [statement]}, "probe")
    assert (role_diff.key, role_diff.added, role_diff.removed) == (f"dev/platform/{role}", [added.describe()], [])

    report = section((new / "review" / "dev.md").read_text(), HEADINGS["diff"])
    assert "1 added, 1 removed, 2 modified; **1** replacement likely; IAM changes in 1 role." in report
    assert table_row(report, "added")[1:3] == ["`ReviewProbeQueue`", "`AWS::SQS::Queue`"]
    assert table_row(report, "removed")[1:3] == [f"`{removed}`", f"`{removed_type}`"]
    assert f"+ {added.describe()}" in report
    assert section((new / "review" / "prod.md").read_text(), HEADINGS["diff"]).strip().endswith("No changes.")


def test_an_environment_missing_from_the_baseline_is_new(synth, tmp_path):
    baseline = tmp_path / "baseline"
    shutil.copytree(synth.outdir, baseline, ignore=shutil.ignore_patterns("asset.*", "assembly-prod", "review"))
    new = tmp_path / "new"
    shutil.copytree(synth.outdir, new, ignore=shutil.ignore_patterns("asset.*"))
    write_reviews(new, list(synth.configs.values()), baseline=baseline, lint=False)
    assert "Environment `prod` is new" in (new / "review" / "prod.md").read_text()
    assert "No changes." in (new / "review" / "dev.md").read_text()


# ----------------------------------------------------------------------------- generic over resource types

def observability_stack(env: str, workload_log_group: str) -> dict:
    """A stack of the kinds the platform is adding: buckets, Firehose, queues, relay, alarms..."""
    tags = [{"Key": "environment", "Value": env}]
    return {"Resources": {
        "ProbeBucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["LogsKey", "Arn"]}}}]},
            "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 37}]},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogs"}},
            "Tags": tags}},
        "AccessLogs": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": f"{env}-access-logs",
            "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 90}]}}},
        "Archive": {"Type": "AWS::S3::Bucket", "Properties": {
            "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 400}]}}},
        "LogsKey": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": []}}},
        "ToArchive": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {
            "ExtendedS3DestinationConfiguration": {"BucketARN": {"Fn::GetAtt": ["Archive", "Arn"]}, "Prefix": "logs/",
                                                   "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 5}}}},
        "ToDatadog": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {
            "HttpEndpointDestinationConfiguration": {
                "EndpointConfiguration": {"Name": "datadog", "Url": "https://intake.example.com/v1/input"},
                "S3Configuration": {"BucketARN": {"Fn::GetAtt": ["Archive", "Arn"]}}}}},
        "WorkloadsToArchive": {"Type": "AWS::Logs::SubscriptionFilter", "Properties": {
            "LogGroupName": workload_log_group, "FilterPattern": "?ERROR \"(quoted)\"",
            "DestinationArn": {"Fn::GetAtt": ["ToArchive", "Arn"]}}},
        "WorkloadsToDatadog": {"Type": "AWS::Logs::SubscriptionFilter", "Properties": {
            "LogGroupName": workload_log_group, "FilterPattern": "",
            "DestinationArn": {"Fn::GetAtt": ["ToDatadog", "Arn"]}}},
        "AlertQueue": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": f"dagster-alerts-{env}",
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["AlertDlq", "Arn"]}, "maxReceiveCount": 5}}},
        "AlertDlq": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "RelayState": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST",
                                                                      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}},
        "RelayRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
        "RelayRolePolicy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyName": "p", "Roles": [{"Ref": "RelayRole"}],
            "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": {"Fn::GetAtt": ["AlertQueue", "Arn"]}},
                {"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*"}]}}},
        "Relay": {"Type": "AWS::Lambda::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["RelayRole", "Arn"]}, "FunctionName": f"dagster-alert-relay-{env}",
            "Environment": {"Variables": {"STATE_TABLE_NAME": {"Ref": "RelayState"}}}}},
        "RelayFromQueue": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["AlertQueue", "Arn"]}, "FunctionName": {"Ref": "Relay"}}},
        "WebhookRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]},
            "Policies": [{"PolicyName": "send", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["AlertQueue", "Arn"]}}]}}]}},
        "Webhook": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["WebhookRole", "Arn"]}}},
        "WebhookUrl": {"Type": "AWS::Lambda::Url", "Properties": {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": ["Webhook", "Arn"]}}},
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "AlarmTopicToQueue": {"Type": "AWS::SNS::Subscription", "Properties": {
            "Protocol": "sqs", "TopicArn": {"Ref": "AlarmTopic"}, "Endpoint": {"Fn::GetAtt": ["AlertQueue", "Arn"]}}},
        "AgentMissing": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "Period": 60, "AlarmActions": [{"Ref": "AlarmTopic"}]}},
        "DlqAge": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "AlarmTopic"}], "Metrics": [
            {"Id": "a", "MetricStat": {"Period": 300}}, {"Id": "b", "MetricStat": {"Period": 300}}, {"Id": "e", "Expression": "a+b"}]}},
        "EcsTaskStopped": {"Type": "AWS::Events::Rule", "Properties": {
            "EventPattern": {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]},
            "Targets": [{"Id": "q", "Arn": {"Fn::GetAtt": ["AlertQueue", "Arn"]}}]}},
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": "{}"}},
        "SlackSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": f"dagster/{env}/webhook"}},
        "ApiEndpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.sqs", "SubnetIds": ["subnet-1", "subnet-2"]}},
    }}


@pytest.fixture(scope="module")
def grown(synth, tmp_path_factory):
    """The dev assembly plus an observability stack, and a sensor permission for the workload task role."""
    outdir = tmp_path_factory.mktemp("grown") / "cdk.out"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("asset.*", "review"))
    assembly = outdir / "assembly-dev"
    workload_group = next(
        r["Properties"]["LogGroupName"] for r in synth.resources("dev", "AWS::Logs::LogGroup").values()
        if r["Properties"].get("LogGroupName", "").endswith("/workloads")
    )
    stack = observability_stack("dev", workload_group)
    (assembly / "devobservability.template.json").write_text(json.dumps(stack))
    manifest = json.loads((assembly / "manifest.json").read_text())
    manifest["artifacts"]["devobservability"] = {
        "type": "aws:cloudformation:stack", "displayName": "dev/observability",
        "properties": {"templateFile": "devobservability.template.json"},
    }
    (assembly / "manifest.json").write_text(json.dumps(manifest))
    platform_file = _template_path(outdir, "dev", "platform")
    platform = json.loads(platform_file.read_text())
    workload_task_role = next(
        lid for lid, r in platform["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("Description", "").startswith("Task role")
    )
    platform["Resources"]["SensorsSendAlerts"] = {"Type": "AWS::IAM::Policy", "Properties": {
        "PolicyName": "sensors", "Roles": [{"Ref": workload_task_role}],
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
                                          "Resource": "arn:aws:sqs:us-east-1:123456789012:dagster-alerts-dev"}]}}}
    platform_file.write_text(json.dumps(platform))
    [path] = [p for p in write_reviews(outdir, [synth.configs["dev"]], lint=False)]
    return outdir, stack, path.read_text()


def test_grown_assembly_buckets_forwarding_and_roles(grown):
    _outdir, stack, report = grown
    summary = section(report, HEADINGS["summary"])
    buckets = subsection(summary, "### Buckets")
    probe = table_row(buckets, "`ProbeBucket`")
    rules = stack["Resources"]["ProbeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert probe[1] == "—" and f"expire after {rules[0]['ExpirationInDays']} days" in probe[4]
    assert probe[2] == "SSE-KMS `<LogsKey.Arn>`" and probe[5] == "`dev-access-logs`"
    assert table_row(buckets, "`dev-access-logs`")[1] == "access logs"
    assert table_row(buckets, "`Archive`")[1] == "log archive (ToArchive), failed deliveries (ToDatadog)"
    forwarding = subsection(summary, "### Log forwarding")
    assert "HTTP `datadog` `https://intake.example.com/v1/input`" in table_row(forwarding, "`ToDatadog`")[1]
    assert "all events" in table_row(forwarding, "`ToDatadog`")[3]
    for role in ("RelayRole", "WebhookRole"):
        assert f"### `{role}` in `dev/observability`" in section(report, HEADINGS["iam"])


def test_grown_assembly_diagram_draws_the_alert_and_log_flows(grown):
    _outdir, _stack, report = grown
    chart = mermaid(report)
    assert 'n_queue_AlertQueue -.->|"after 5 receives"| n_queue_AlertDlq' in chart
    assert 'n_queue_AlertQueue -->|"batches"| n_fn_Relay' in chart
    assert 'n_fn_Relay -->|"state"| n_table_RelayState' in chart
    assert 'n_url_WebhookUrl -->|"POST"| n_fn_Webhook' in chart and 'n_fn_Webhook -->|"send"| n_queue_AlertQueue' in chart
    assert 'n_code_locations -->|"Dagster sensors"| n_queue_AlertQueue' in chart
    assert 'n_alarms_AlarmTopic -->|"ALARM / OK"| n_topic_AlarmTopic' in chart and '"2 CloudWatch alarms"' in chart
    assert 'n_topic_AlarmTopic -->|"sqs"| n_queue_AlertQueue' in chart
    assert 'n_rule_EcsTaskStopped -->|"events"| n_queue_AlertQueue' in chart
    assert '|"filter ?ERROR #quot;#40;quoted#41;#quot;"|' in chart  # escaped label
    assert 'n_bucket_ProbeBucket -.->|"access logs"| n_bucket_AccessLogs' in chart
    config_teams = load_environments(CONFIG_DIR)[0].alerting.teams
    for team in config_teams:
        assert f'n_fn_Relay -->|"routes"| n_team_{team.replace("-", "_")}' in chart


def test_grown_assembly_costs_follow_the_added_resources(grown, synth):
    outdir, _stack, _report = grown
    config = synth.configs["dev"]
    env = load_environment(outdir, "dev")
    lines = {line.item: line for line in estimate(Inventory(env, config), config).lines}
    count = lambda t: sum(1 for r in env.resources() if r.type == t)  # noqa: E731
    assert lines["KMS keys"].monthly == pytest.approx(count("AWS::KMS::Key") * prices.KMS_KEY_MONTH.amount)
    assert lines["Secrets Manager secrets (created by these stacks)"].quantity == count("AWS::SecretsManager::Secret")
    everything = [r.body for r in env.resources()]
    standard = [r for r in everything if r["Type"] == "AWS::CloudWatch::Alarm" and not _high_resolution(r)]
    alarm_metrics = sum(max(1, len([m for m in r["Properties"].get("Metrics", []) if "MetricStat" in m])) for r in standard)
    assert lines["CloudWatch alarms"].monthly == pytest.approx(alarm_metrics * prices.ALARM_METRIC_MONTH.amount)
    assert lines["CloudWatch dashboards"].monthly == pytest.approx(count("AWS::CloudWatch::Dashboard") * prices.DASHBOARD_MONTH.amount)
    azs = sum(len(r["Properties"]["SubnetIds"]) for r in everything
              if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType") == "Interface")
    assert lines["Interface VPC endpoints"].monthly == pytest.approx(azs * HOURS * prices.INTERFACE_ENDPOINT_AZ_HOUR.amount)
    streams = sum(1 for r in everything if r["Type"] == "AWS::KinesisFirehose::DeliveryStream")
    gib = config.logging.estimated_gib_per_month
    assert lines["Firehose ingestion"].monthly == pytest.approx(gib * streams * prices.FIREHOSE_GB.amount)
    assert lines["DynamoDB tables, on-demand (idle)"].monthly == 0


def _high_resolution(alarm: dict) -> bool:
    props = alarm["Properties"]
    periods = [props.get("Period")] + [m.get("MetricStat", {}).get("Period") for m in props.get("Metrics", [])]
    return any(isinstance(p, int) and p < 60 for p in periods)


# ----------------------------------------------------------------------------- model

def write_assembly(outdir: Path, env: str, stacks: dict[str, dict]) -> Path:
    folder = outdir / f"assembly-{env}"
    folder.mkdir(parents=True)
    artifacts = {}
    for name, template in stacks.items():
        (folder / f"{env}{name}.template.json").write_text(json.dumps(template))
        artifacts[f"{env}{name}"] = {"type": "aws:cloudformation:stack", "displayName": f"{env}/{name}",
                                     "properties": {"templateFile": f"{env}{name}.template.json"}}
    (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return outdir


def test_references_resolve_across_stacks_by_import_name_expression_and_arn(tmp_path):
    name = {"Fn::Join": ["-", ["dagster-x-compute-logs", {"Ref": "AWS::AccountId"}, {"Ref": "AWS::Region"}]]}
    write_assembly(tmp_path, "x", {
        "storage": {
            "Resources": {
                "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}},
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "alerts"}},
                "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/x/workloads"}},
            },
            "Outputs": {"Out": {"Value": {"Ref": "Group"}, "Export": {"Name": "x-workloads"}}},
        },
        "platform": {"Resources": {"Policy": {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {
            "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                           "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", name, "/*"]]}}]}}}}},
    })
    env = load_environment(tmp_path, "x")
    platform, storage = env.stack("platform"), env.stack("storage")
    assert env.resolve(name, platform, "AWS::S3::Bucket") is storage.resources["Bucket"]
    assert env.resolve({"Fn::ImportValue": "x-workloads"}, platform) is storage.resources["Group"]
    assert env.resolve("arn:aws:sqs:eu-west-1:123456789012:alerts", platform) is storage.resources["Queue"]
    assert env.resolve("arn:aws:logs:eu-west-1:123456789012:log-group:/x/workloads:*", platform) is storage.resources["Group"]
    assert env.resolve({"Ref": "Nothing"}, platform) is None
    from constructs_lib.review.model import flatten

    statement = platform.resources["Policy"].props["PolicyDocument"]["Statement"][0]
    assert flatten(statement["Resource"]) == "arn:<AWS::Partition>:s3:::dagster-x-compute-logs-<AWS::AccountId>-<AWS::Region>/*"
    assert flatten({"Fn::Sub": ["${A}-${AWS::Region}", {"A": {"Ref": "B"}}]}) == "<B>-<AWS::Region>"


# ----------------------------------------------------------------------------- CLI and snapshot

def test_cli_writes_the_reports(synth, tmp_path):
    from constructs_lib.review.__main__ import main

    outdir = tmp_path / "cdk.out"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("asset.*", "review"))
    assert main([str(outdir), "--no-lint", "--config-dir", str(CONFIG_DIR), "--baseline", str(synth.outdir)]) == 0
    for env in ENVIRONMENTS:
        report = (outdir / "review" / f"{env}.md").read_text()
        assert HEADINGS["diff"] in report and "No changes." in report
    assert main([str(tmp_path / "missing")]) == 2


def test_the_review_package_does_not_import_the_cdk():
    """Pure JSON/YAML, so it is fast and runs on a saved cdk.out (checked on the source: importing
    ``constructs_lib`` itself loads aws_cdk through the package's ``__init__``)."""
    import ast

    for path in (Path(__file__).parent.parent / "constructs_lib" / "review").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in ("aws_cdk", "cdk_nag", "jsii", "constructs"), f"{path.name} imports {name}"
                assert not (isinstance(node, ast.ImportFrom) and node.level >= 2), f"{path.name} imports from outside the package"


def normalize(report: str) -> str:
    return re.sub(r"\b[0-9a-f]{64}\b", "<asset-hash>", report)


def test_report_snapshot(synth):
    snapshot = SNAPSHOT_DIR / "review_dev.md"
    current = normalize(synth.report("dev"))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT_DIR.mkdir(exist_ok=True)
        snapshot.write_text(current)
    if not snapshot.is_file():
        pytest.skip(f"{snapshot.relative_to(Path.cwd()) if snapshot.is_relative_to(Path.cwd()) else snapshot} is missing: "
                    "run with UPDATE_SNAPSHOTS=1 to write it (the templates are still growing)")
    assert current == snapshot.read_text(), "review report changed: check it, then refresh with UPDATE_SNAPSHOTS=1"
