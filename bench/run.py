"""`make bench`: every benchmark of the project, printed as figures against their targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["synth_bench.py", "checker_bench.py", "relay_bench.py"]


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        script = HERE / name
        if not script.exists():
            continue
        print(f"== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode
    return failed


if __name__ == "__main__":
    sys.exit(main())
