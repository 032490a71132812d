"""``python -m dagster_platform {check,explain}``: the run-policy checker for code-location CI.

Exit codes: 0 ok; 1 policy violations (or, for ``explain``, an unknown job); 2 usage errors, an
invalid policy, or definitions that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from dagster_platform.policy import (
    ENV_POLICY_PATH,
    LocationDefaults,
    PolicyError,
    RunPolicy,
    active_policy,
    load_policy,
)

if TYPE_CHECKING:
    from dagster import RepositoryDefinition

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_platform",
        description="Check a Dagster code location against the platform's run policy.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{check,explain}")

    def add_common(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--policy",
            help=(
                "run_policy.json rendered by the CDK app (cdk.out/dagster/<env>/run_policy.json); "
                f"default: ${ENV_POLICY_PATH}, else the built-in default policy"
            ),
        )
        command.add_argument(
            "--location", help="code location name in the policy: its run size and alert_team act as defaults"
        )
        command.add_argument(
            "--working-directory",
            help="directory to import the definitions' local modules from (default: current directory)",
        )
        command.add_argument("definitions", help="Python file with the location's Definitions")

    check = commands.add_parser("check", help="report every policy violation; exit 1 if any")
    add_common(check)

    explain = commands.add_parser(
        "explain", help="show a job's effective run settings and where each comes from"
    )
    add_common(explain)
    explain.add_argument("job", help="job name")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    return parser


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        policy = load_policy(args.policy) if args.policy else active_policy()
        location = policy.location(args.location) if args.location else None
    except PolicyError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    # Imported here so `--help` and policy errors answer without importing Dagster.
    from dagster_platform.loading import DefinitionsLoadError, load_definitions
    from dagster_platform.tags import RunPolicyViolation

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dagster's beta/deprecation notices are not our findings
            loaded = load_definitions(
                args.definitions, working_directory=args.working_directory, policy=policy
            )
    except RunPolicyViolation as exc:
        # a tag helper refused a value while the module was imported; its message names file:line
        message = str(exc)
        print(message if _names_a_line(message) else f"{args.definitions}: {message}", file=out)
        return EXIT_VIOLATIONS
    except (DefinitionsLoadError, PolicyError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE

    if args.command == "check":
        return _check(args.definitions, loaded.repository, policy, location, out, loaded.sources)
    return _explain(args, loaded.repository, policy, location, out, err, loaded.sources)


def _names_a_line(message: str) -> bool:
    location = message.split(": ", 1)[0]
    path, _, line = location.rpartition(":")
    return bool(path) and line.isdigit()


def _check(
    path: str,
    repository: RepositoryDefinition,
    policy: RunPolicy,
    location: LocationDefaults | None,
    out: TextIO,
    sources: Sequence[str] = (),
) -> int:
    from dagster_platform.checker import check_repository

    result = check_repository(repository, policy, location, sources=sources)
    for violation in result.errors + result.warnings:
        print(violation.line(path), file=out)
    if result.errors:
        return EXIT_VIOLATIONS
    print(f"ok: {result.summary(policy)}", file=out)
    return EXIT_OK


def _explain(
    args: argparse.Namespace,
    repository: RepositoryDefinition,
    policy: RunPolicy,
    location: LocationDefaults | None,
    out: TextIO,
    err: TextIO,
    sources: Sequence[str] = (),
) -> int:
    from dagster_platform.explain import UnknownJob, explain_job

    try:
        explanation = explain_job(repository, args.job, policy, location, sources=sources)
    except UnknownJob as exc:
        print(f"error: {args.definitions}: {exc.args[0]}", file=err)
        return EXIT_VIOLATIONS
    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2), file=out)
    else:
        print("\n".join(explanation.render()), file=out)
    return EXIT_OK
