#!/usr/bin/env python3
"""The CDK app: one Stage per environment file in ``config/``, checked by cdk-nag at synth."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict:
    """``cdk.json`` context, which only the CDK CLI would otherwise read."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def build_app(config_dir: str | Path = ROOT / "config", *, outdir: str | None = None):
    from constructs_lib.config import load_environments

    configs = load_environments(config_dir, cdk_json_context())  # before jsii starts: a config error costs ~1 s
    from aws_cdk import App

    from constructs_lib.agent.agent_config import AgentConfigError
    from constructs_lib.nag import attach_platform_checks
    from stacks import DagsterPlatformStage

    # cfn-lint is this app's template validator (a validation plugin, cached per template); CDK's
    # built-in CloudFormation validation runs the same kind of schema rules uncached (a WASM engine,
    # about half the CPU of a warm synth here), so it is off rather than run twice.
    app = App(context=cdk_json_context(), outdir=outdir, builtin_cloud_formation_validation=False)
    attach_platform_checks(app)
    stages = []
    for config in configs:
        try:
            stages.append(DagsterPlatformStage(app, config=config))
        except AgentConfigError as error:  # a setting Dagster would refuse: name the environment file
            raise AgentConfigError([f"{Path(config_dir) / config.name}.yaml: {line}" for line in error.lines]) from None
    return app, stages


def write_artifacts(outdir: str | Path, stages) -> list[Path]:
    written = []
    for stage in stages:
        folder = Path(outdir) / "dagster" / stage.config.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in stage.artifacts.items():
            path = folder / name
            path.write_text(text)
            written.append(path)
    return written


def artifact_problems(outdir: str | Path, stages) -> list[str]:
    """Every rendered Dagster file, checked with Dagster's own schemas and loaders: one line per
    problem. Files unchanged since a synth into ``outdir`` are remembered and cost nothing."""
    from constructs_lib.dagster_files import check_files

    return check_files({str(Path(outdir) / "dagster" / stage.config.name): stage.artifacts for stage in stages},
                       outdir=outdir)


def check_artifacts(outdir: str | Path, stages) -> None:
    """:func:`artifact_problems`, raising ``DagsterFileError`` when there are any."""
    from constructs_lib.dagster_files import DagsterFileError

    problems = artifact_problems(outdir, stages)
    if problems:
        raise DagsterFileError(problems)


def main() -> int:
    """``cdk synth``: build, synthesize (cdk-nag and cfn-lint stop it on any unacknowledged finding,
    see ``constructs_lib.nag.attach_platform_checks``) while the Dagster files are checked beside it,
    then write the files and the review reports. Problems are printed one per line; exit 1."""
    from concurrent.futures import ThreadPoolExecutor

    from constructs_lib.config import ConfigError
    from constructs_lib.dagster_files import DagsterFileError

    try:
        app, stages = build_app(os.environ.get("DAGSTER_PLATFORM_CONFIG_DIR", ROOT / "config"))
    except (ConfigError, DagsterFileError) as error:
        print(error, file=sys.stderr)
        return 1
    # The Dagster checks (importing Dagster when a file changed) run in a thread while jsii synthesizes:
    # the main thread mostly waits on the Node.js process then, so the two use both cores.
    with ThreadPoolExecutor(max_workers=1) as pool:
        checking = pool.submit(artifact_problems, app.outdir, stages)
        try:
            assembly = app.synth()  # raises SynthChecksFailed (exit 1, one line per finding) on a failed check
        finally:
            problems = checking.result()
            if problems:
                print("\n".join(problems), file=sys.stderr)
    if problems:
        return 1
    write_artifacts(assembly.directory, stages)
    from constructs_lib.review import write_reviews

    write_reviews(Path(assembly.directory), [stage.config for stage in stages])
    return 0


if __name__ == "__main__":
    sys.exit(main())
