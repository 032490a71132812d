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

    from constructs_lib.nag import attach_platform_checks
    from stacks import DagsterPlatformStage

    app = App(context=cdk_json_context(), outdir=outdir)
    attach_platform_checks(app)
    stages = [DagsterPlatformStage(app, config=config) for config in configs]
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


def main() -> int:
    from constructs_lib.config import ConfigError

    try:
        app, stages = build_app(os.environ.get("DAGSTER_PLATFORM_CONFIG_DIR", ROOT / "config"))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    assembly = app.synth()
    write_artifacts(assembly.directory, stages)
    from constructs_lib.review import write_reviews

    write_reviews(Path(assembly.directory), [stage.config for stage in stages])
    return 0


if __name__ == "__main__":
    sys.exit(main())
