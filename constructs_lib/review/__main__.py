"""``python -m constructs_lib.review cdk.out [--baseline OLD_CDK_OUT] [--no-lint] [--config-dir config]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m constructs_lib.review", description=__doc__)
    parser.add_argument("outdir", type=Path, help="the synthesized cloud assembly (cdk.out)")
    parser.add_argument("--baseline", type=Path, help="an earlier cdk.out to compare with")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    parser.add_argument("--config-dir", type=Path, default=Path("config"), help="environment files (default: config/)")
    args = parser.parse_args(argv)

    from constructs_lib.config import ConfigError, load_environments

    from .render import write_reviews

    if not (args.outdir / "manifest.json").is_file():
        print(f"{args.outdir}: not a cloud assembly (no manifest.json); run `make synth` first", file=sys.stderr)
        return 2
    if args.baseline is not None and not args.baseline.is_dir():
        print(f"{args.baseline}: baseline directory not found", file=sys.stderr)
        return 2
    try:
        configs = load_environments(args.config_dir)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        paths = write_reviews(args.outdir, configs, baseline=args.baseline, lint=not args.no_lint)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    print(f"{len(paths)} review{'s' if len(paths) != 1 else ''} in {time.perf_counter() - start:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
