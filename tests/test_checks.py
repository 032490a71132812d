"""The checks every environment must pass: cfn-lint and cdk-nag, with reasoned acknowledgments."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack, Stage, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from constructs_lib.nag import acknowledge_wildcards
from tests.support import cfn_lint_problems, lint_findings

def test_cfn_lint_finds_no_errors_and_only_accepted_warnings(synthesized):
    templates = {f"{environment}/{stack}": template for environment, stack, template in synthesized.all_templates()}
    assert cfn_lint_problems(templates) == []


def test_cfn_lint_is_live_it_reports_a_broken_template(synthesized):
    template = json.loads(json.dumps(synthesized.template("dev", "platform")))
    service = next(r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::Service")
    service["Properties"]["DesiredCount"] = "many"
    assert any(match.rule.id.startswith("E") for match in lint_findings(template))


def test_cdk_nag_is_live_an_unacknowledged_violation_stops_synth(tmp_path):
    app = App(outdir=str(tmp_path))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(Stage(app, "probe"), "stack")
    s3.Bucket(stack, "OpenBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_wildcard_acknowledgment_covers_only_the_wildcards_that_exist(tmp_path):
    app = App(outdir=str(tmp_path))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(Stage(app, "probe"), "stack")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"]))
    acknowledge_wildcards(role, "Reads every object of one bucket by design of this probe.")
    app.synth()  # the one wildcard is acknowledged

    app = App(outdir=str(tmp_path / "unacknowledged"))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(Stage(app, "probe"), "stack")
    acknowledged = iam.Role(stack, "Acknowledged", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    acknowledged.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"]))
    acknowledge_wildcards(acknowledged, "Reads every object of one bucket by design of this probe.")
    sibling = iam.Role(stack, "Sibling", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    sibling.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::bucket/*"]))
    with pytest.raises(RuntimeError, match="Sibling/DefaultPolicy"):
        app.synth()


def acknowledgments(synthesized):
    from aws_cdk import Validations as V

    key = V.ACKNOWLEDGED_RULES_METADATA_KEY
    for stage in synthesized.stages.values():
        for construct in stage.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == key:
                    for rule, reason in entry.data.items():
                        yield construct, rule.removeprefix("Annotation::"), reason


def test_every_acknowledgment_is_on_a_resource_level_construct_with_a_specific_reason(synthesized):
    nag_packs = ("AwsSolutions-", "Serverless-")
    found = [item for item in acknowledgments(synthesized) if item[1].startswith(nag_packs)]
    assert found, "the examples acknowledge some findings; none found means the walk is broken"
    for construct, rule, reason in found:
        assert not isinstance(construct, (Stack, Stage)), f"{rule} acknowledged on a whole stack/stage"
        assert len(reason) >= 20 and "TODO" not in reason, (construct.node.path, rule, reason)


EXPECTED_AGENT_WILDCARDS = {
    "Resource::*",
    "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/<Cluster>/*",
    "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<Cluster>/*",
    # dagster-cloud's task-definition families for this organization: code servers and runs.
    "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/server_acme_*",
    "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/dagsterrun_acme_*",
    "Resource::arn:<AWS::Partition>:servicediscovery:<AWS::Region>:<AWS::AccountId>:service/*",
    "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/dagster-platform/dev/workloads:log-stream:*",
    # Compute logs: objects under the configured prefix of the environment's bucket only.
    "Resource::arn:<AWS::Partition>:s3:::dagster-dev-compute-logs-<AWS::AccountId>-<AWS::Region>/compute-logs/*",
}


def test_agent_wildcards_are_exactly_the_reviewed_set(synthesized):
    agent_role = synthesized.stages["dev"].platform.agent.task_role
    ids = {
        rule.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
        for construct, rule, _ in acknowledgments(synthesized)
        if rule.startswith("AwsSolutions-IAM5[") and construct.node.path.startswith(agent_role.node.path)
    }
    cluster_id = next(iter(synthesized.resources("dev", "platform", "AWS::ECS::Cluster")))
    assert {i.replace(f"<{cluster_id}>", "<Cluster>") for i in ids} == EXPECTED_AGENT_WILDCARDS


# ----------------------------------------------------------------------------- the synth gate in-process

def gated_app(tmp_path, *, cfn_lint=True):
    from constructs_lib.nag import attach_platform_checks

    app = App(outdir=str(tmp_path))
    attach_platform_checks(app, cfn_lint=cfn_lint)
    return app, Stack(Stage(app, "probe"), "stack")


def test_attach_platform_checks_stops_synth_with_one_line_per_finding(tmp_path):
    from constructs_lib.synth_gate import SynthChecksFailed

    app, stack = gated_app(tmp_path)
    s3.Bucket(stack, "OpenBucket")
    with pytest.raises(SynthChecksFailed) as raised:
        app.synth()
    assert raised.value.code != 0 and isinstance(raised.value, SystemExit)  # exit status 1, no traceback
    lines = str(raised.value).splitlines()
    assert lines[0] == f"synth failed: 2 unacknowledged findings (full report: {tmp_path}/validation-report.json)"
    assert lines[1:3] == [
        "probe/stack/OpenBucket/Resource: AwsSolutions-S1 (AwsSolutions, error): The S3 Bucket has server access logs disabled.",
        "probe/stack/OpenBucket/Resource: AwsSolutions-S10 (AwsSolutions, error): The S3 Bucket or bucket policy does not require requests to use SSL.",
    ]


def test_a_cfn_lint_error_can_be_acknowledged_like_a_nag_finding(tmp_path):
    from aws_cdk import Tags

    from constructs_lib.nag import acknowledge
    from constructs_lib.synth_gate import SynthChecksFailed

    app, stack = gated_app(tmp_path / "unacknowledged")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    Tags.of(bucket).add("aws:owner", "data")
    with pytest.raises(SynthChecksFailed, match=r"probe/stack/Bucket/Resource: E3024 \(cfn-lint, error\): 'aws:owner'"):
        app.synth()

    app, stack = gated_app(tmp_path / "acknowledged")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    Tags.of(bucket).add("aws:owner", "data")
    acknowledge(bucket, "cfn-lint::E3024", "A probe of the acknowledgment path for cfn-lint findings.")
    app.synth()


def test_cfn_lint_off_lets_a_lint_error_through_but_not_a_nag_finding(tmp_path):
    from aws_cdk import Tags

    app, stack = gated_app(tmp_path, cfn_lint=False)
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    Tags.of(bucket).add("aws:owner", "data")
    app.synth()


def test_warnings_and_successful_plugins_do_not_fail_and_a_failure_without_errors_still_does():
    from constructs_lib.synth_gate import failing_findings

    def plugin(conclusion, *severities):
        return {"pluginName": "p", "conclusion": conclusion, "violations": [
            {"ruleName": f"R{i}", "description": "d", "severity": s, "violatingConstructs": [{"constructPath": "a/b"}]}
            for i, s in enumerate(severities)]}

    assert failing_findings({"pluginReports": [plugin("success", "warning"), plugin("failure", "warning")]})[0].rule == "-"
    assert failing_findings({"pluginReports": [plugin("success", "error")]}) == []
    assert [f.rule for f in failing_findings({"pluginReports": [plugin("failure", "warning", "error", "fatal")]})] == ["R1", "R2"]


def test_synth_is_judged_by_its_own_report_not_a_stale_one(tmp_path):
    import json as _json

    (tmp_path / "validation-report.json").write_text(_json.dumps({"pluginReports": [
        {"pluginName": "old", "conclusion": "failure", "violations": [{"ruleName": "X", "severity": "error"}]}]}))
    app, stack = gated_app(tmp_path)
    s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    app.synth()
