"""`cdk synth` and `cdk deploy` through the REAL pinned CDK CLI stop on any unacknowledged cdk-nag
finding, any cfn-lint error and any Dagster file Dagster would refuse, for this app and for a
library user's own app; the clean examples still pass.

The CLI passes ``@aws-cdk/core:failSynthOnValidationErrors: false`` to the app and then reads the
report only for the stacks it selected, which for stacks inside Stages is none: without the gate in
``attach_platform_checks`` each failing case below printed "Successfully synthesized" and exited 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

CDK = ROOT / "node_modules" / ".bin" / "cdk"
PYTHON = sys.executable
TIMEOUT = 600

pytestmark = pytest.mark.skipif(not CDK.exists(), reason="the pinned CDK CLI is installed by `make install`")


def cli_environment() -> dict[str, str]:
    """Node.js 24 from the venv first on PATH; no AWS credentials of the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        PATH=f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    return env


def run_cdk(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CDK), *args], cwd=cwd, env={**cli_environment(), **(env or {})},
        capture_output=True, text=True, timeout=TIMEOUT,
    )


def one_environment(tmp_path: Path, edit=None) -> Path:
    """A config folder with only the dev example (optionally edited): one Stage, quicker to synth."""
    folder = tmp_path / "config"
    folder.mkdir()
    data = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    if edit is not None:
        edit(data)
    (folder / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


PROBE_APP = """
import sys
from pathlib import Path
import app as platform_app
from aws_cdk import Tags
from aws_cdk import aws_s3 as s3

application, stages = platform_app.build_app(sys.argv[1])
{inject}
application.synth()
"""


def synth_platform_with(tmp_path: Path, inject: str) -> subprocess.CompletedProcess:
    """This project's app (its build_app, so its checks) with ``inject`` added inside the dev Stage."""
    script = tmp_path / "probe_app.py"
    script.write_text(PROBE_APP.format(inject=textwrap.dedent(inject)))
    config = one_environment(tmp_path)
    return run_cdk(
        "synth", "--quiet", "--app", f"{PYTHON} {script} {config}", "--output", str(tmp_path / "cdk.out"), cwd=ROOT
    )


def finding_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": " in line and "(" in line and line.startswith("dev/")]


def test_a_cdk_nag_finding_inside_a_stage_fails_cdk_synth(tmp_path):
    result = synth_platform_with(tmp_path, 's3.Bucket(stages[0].storage, "UncheckedBucket")')
    assert result.returncode != 0, result.stderr
    assert "Successfully synthesized" not in result.stderr + result.stdout
    lines = finding_lines(result)
    assert "dev/storage/UncheckedBucket/Resource: AwsSolutions-S1 (AwsSolutions, error): " \
           "The S3 Bucket has server access logs disabled." in lines
    assert any(line.startswith("dev/storage/UncheckedBucket/Resource: AwsSolutions-S10 ") for line in lines)
    assert "Traceback" not in result.stderr
    # The findings are those of CDK's own report, which the CLI would not act on.
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    assert any(r["pluginName"] == "AwsSolutions" and r["conclusion"] == "failure" for r in report["pluginReports"])


def test_a_cfn_lint_error_fails_cdk_synth_and_lands_in_the_same_report(tmp_path):
    long_key = "k" * 200
    result = synth_platform_with(
        tmp_path,
        f'Tags.of(stages[0].storage).add("aws:team", "data")\nTags.of(stages[0].storage).add("{long_key}", "x")',
    )
    assert result.returncode != 0, result.stderr
    lines = finding_lines(result)
    aws_prefix = [line for line in lines if "(cfn-lint, error)" in line and "'aws:team' does not match" in line]
    too_long = [line for line in lines if "(cfn-lint, error)" in line and f"'{long_key}' is longer than 128" in line]
    assert aws_prefix and too_long, result.stderr
    assert all(line.startswith("dev/storage/") for line in aws_prefix)
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    [lint_report] = [r for r in report["pluginReports"] if r["pluginName"] == "cfn-lint"]
    assert lint_report["conclusion"] == "failure"


def test_a_dagster_file_dagster_would_refuse_fails_cdk_synth_with_one_line_naming_the_setting(tmp_path):
    def bad_handler_config(data):
        data["agent"]["python_logs"]["dagster_handler_config"] = {
            "version": 1, "handlers": {"console": {"class": "logging.StreamHandler"}},
        }

    config = one_environment(tmp_path, bad_handler_config)
    result = run_cdk(
        "synth", "--quiet", "--output", str(tmp_path / "cdk.out"), cwd=ROOT,
        env={"DAGSTER_PLATFORM_CONFIG_DIR": str(config)},
    )
    assert result.returncode != 0
    assert f"{config}/dev.yaml: agent.python_logs.dagster_handler_config.version: not accepted by Dagster; " \
           "allowed keys: filters, formatters, handlers" in result.stderr
    assert "Traceback" not in result.stderr


LIBRARY_APP = """
from aws_cdk import App, Stack, Stage, Tags
from aws_cdk import aws_s3 as s3

from constructs_lib.nag import acknowledge, attach_platform_checks

app = App()
stack = Stack(Stage(app, "team"), "data")
bucket = s3.Bucket(stack, "Landing"{props})
{extra}
attach_platform_checks(app)   # called after the stacks exist, as a user may
app.synth()
"""


def library_user_app(tmp_path: Path, props: str = "", extra: str = "") -> Path:
    folder = tmp_path / "user-app"
    folder.mkdir()
    (folder / "app.py").write_text(LIBRARY_APP.format(props=props, extra=extra))
    (folder / "cdk.json").write_text(json.dumps({"app": f"{PYTHON} app.py"}))
    return folder


def test_a_library_users_own_app_fails_cdk_synth_and_cdk_deploy_stops_before_aws(tmp_path):
    folder = library_user_app(tmp_path)
    synth = run_cdk("synth", "--quiet", cwd=folder)
    assert synth.returncode != 0
    assert "synth failed: 2 unacknowledged findings" in synth.stderr
    assert "team/data/Landing/Resource: AwsSolutions-S1 (AwsSolutions, error): " in synth.stderr
    assert "team/data/Landing/Resource: AwsSolutions-S10 (AwsSolutions, error): " in synth.stderr
    assert "Traceback" not in synth.stderr

    deploy = run_cdk("deploy", "team/*", "--require-approval", "never", cwd=folder)
    assert deploy.returncode != 0
    assert "synth failed: 2 unacknowledged findings" in deploy.stderr
    # It stopped at synth: no credentials were looked for, no stack was deployed.
    for marker in ("Unable to resolve AWS account", "credentials", "Deploying", "deploying..."):
        assert marker not in deploy.stderr + deploy.stdout, marker


def test_a_library_users_app_passes_once_each_finding_is_fixed_or_acknowledged(tmp_path):
    # S1 fixed; S10 and a cfn-lint error acknowledged with reasons (cfn-lint rules as "cfn-lint::<rule>").
    folder = library_user_app(
        tmp_path,
        props=", server_access_logs_prefix='access-logs/'",
        extra=textwrap.dedent("""
            Tags.of(bucket).add("aws:owner", "data")
            acknowledge(bucket, "AwsSolutions-S10", "Probe bucket: TLS-only policy acknowledged for this test.")
            acknowledge(bucket, "cfn-lint::E3024", "Probe bucket: the aws: tag is acknowledged for this test.")
        """),
    )
    result = run_cdk("synth", "--quiet", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "Successfully synthesized" in result.stderr + result.stdout


def test_the_example_environments_pass_cdk_synth(tmp_path):
    outdir = tmp_path / "cdk.out"
    result = run_cdk("synth", "--quiet", "--output", str(outdir), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    environments = sorted(path.stem for path in (ROOT / "config").glob("*.yaml"))
    for environment in environments:
        assert (outdir / "review" / f"{environment}.md").is_file()
        for name in ("dagster.yaml", "dagster_cloud.yaml", "deployment_settings.yaml", "alert_policies.yaml"):
            assert (outdir / "dagster" / environment / name).is_file()
    report = json.loads((outdir / "validation-report.json").read_text())
    assert [r["pluginName"] for r in report["pluginReports"] if r["conclusion"] == "failure"] == []
    # cfn-lint ran inside synth and the review reused its results (one lint per template).
    assert (outdir / ".platform-checks" / "cfn-lint.json").is_file()
    assert (outdir / ".platform-checks" / "dagster-files.json").is_file()
