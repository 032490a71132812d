"""cfn-lint findings per template, cached by template content so an unchanged template is free.

cfn-lint runs in-process (``cfnlint.api.lint``) in the environment's region (``us-east-1`` for an
environment-agnostic one). Results are cached in ``<outdir>/.platform-checks/cfn-lint.json`` keyed
by the SHA-256 of the template text, the region and the cfn-lint version. The cfn-lint validation
plugin (``constructs_lib.cfn_lint_plugin``) fills the same cache during synth, so the review, which
runs after synth on the same templates, lints nothing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .model import Environment

DEFAULT_REGION = "us-east-1"
CACHE_DIR = ".platform-checks"
CACHE_FILE = "cfn-lint.json"
CACHE_LIMIT = 200
#: Processes linting at once (this one and a helper) when several templates are not cached.
MAX_WORKERS = 2

#: cfn-lint warnings this project accepts, each with the reason (tests/test_checks.py holds the same list).
ACCEPTED_WARNINGS = {
    "W3005": "CDK adds an explicit DependsOn from each Lambda to its role policy that cfn-lint calls redundant; "
    "it orders policy creation before the function and is harmless.",
    "W3010": "An environment with an explicit account and region gets its subnets pinned to the availability zones "
    "recorded in cdk.json context, so the VPC layout never shifts between synths; that is CDK's documented design.",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    path: str

    @property
    def accepted(self) -> bool:
        return self.rule in ACCEPTED_WARNINGS

    @property
    def level(self) -> str:
        return {"E": "error", "W": "warning", "I": "info"}.get(self.rule[:1], "finding")


def cache_path(outdir: Path) -> Path:
    """Where the lint results of a cloud assembly are cached."""
    return Path(outdir) / CACHE_DIR / CACHE_FILE


def cfn_lint_version() -> str:
    try:
        from importlib.metadata import version

        return version("cfn-lint")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


class LintCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.version = cfn_lint_version()
        self.entries: dict[str, list[dict]] = {}
        self.used: list[str] = []
        self.dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                if data.get("cfn_lint") == self.version:
                    self.entries = dict(data.get("entries") or {})
            except (ValueError, AttributeError):
                self.entries = {}

    def key(self, text: str, region: str) -> str:
        return hashlib.sha256(f"{self.version}\0{region}\0{text}".encode()).hexdigest()

    def get(self, key: str) -> list[Finding] | None:
        if key in self.entries:
            self.used.append(key)
            return [Finding(**item) for item in self.entries[key]]
        return None

    def put(self, key: str, findings: list[Finding]) -> None:
        self.entries[key] = [asdict(f) for f in findings]
        self.used.append(key)
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        # Entries of this run first, then the newest others, up to the limit.
        used = set(self.used)
        keep = [k for k in self.entries if k in used] + [k for k in reversed(list(self.entries)) if k not in used]
        entries = {k: self.entries[k] for k in keep[:CACHE_LIMIT]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"cfn_lint": self.version, "entries": entries}, sort_keys=True))
        self.dirty = False


def lint_text(text: str, region: str) -> list[Finding]:
    from cfnlint.api import ManualArgs, lint  # imported on first use: about 0.3 s

    matches = lint(text, config=ManualArgs(regions=[region]))
    return _findings([[m.rule.id, str(m.message), "/".join(str(part) for part in m.path or [])] for m in matches])


#: Lints a JSON list of [template text, region] read from the file named by argv[1]; prints findings.
#: Only cfn-lint is imported: a worker must not import constructs_lib, whose package imports aws_cdk.
WORKER = """
import json, sys
jobs = json.loads(open(sys.argv[1]).read())
from cfnlint.api import ManualArgs, lint
out = []
for text, region in jobs:
    out.append([[m.rule.id, str(m.message), "/".join(str(p) for p in (m.path or []))] for m in lint(text, config=ManualArgs(regions=[region]))])
print(json.dumps(out))
"""


def _findings(rows: list[list[str]]) -> list[Finding]:
    return sorted({Finding(*row) for row in rows}, key=lambda f: (f.rule, f.path, f.message))


def lint_many(jobs: list[tuple[str, str]], workers: int | None = None) -> list[list[Finding]]:
    """Lint (template text, region) pairs. With several, a second Python process lints about half
    of them (by size) while this one lints the rest: cfn-lint is CPU-bound and single-threaded."""
    workers = min(workers or os.cpu_count() or 1, MAX_WORKERS, len(jobs))
    if workers < 2:
        return [lint_text(*job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
    mine, theirs, load = [], [], [0, 0]
    for index in order:
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(index)
        load[side] += len(jobs[index][0])
    results: dict[int, list[Finding]] = {}
    with tempfile.TemporaryDirectory(prefix="review-lint-") as folder:
        job_file = Path(folder) / "jobs.json"
        job_file.write_text(json.dumps([jobs[i] for i in theirs]))
        try:
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER, str(job_file)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
        except OSError:
            worker = None
        for index in mine + ([] if worker else theirs):
            results[index] = lint_text(*jobs[index])
        if worker is not None:
            output, _ = worker.communicate()
            try:
                rows = json.loads(output) if worker.returncode == 0 else None
            except ValueError:
                rows = None
            for position, index in enumerate(theirs):
                results[index] = _findings(rows[position]) if rows is not None else lint_text(*jobs[index])
    return [results[i] for i in range(len(jobs))]


def lint_all(envs: list[tuple[Environment, str]], cache: LintCache, workers: int | None = None) -> dict[str, dict[str, list[Finding]]]:
    """Environment name -> stack display name -> findings, for (environment, region) pairs.

    Templates already in the cache cost nothing; the others are linted together.
    """
    results: dict[str, dict[str, list[Finding]]] = {}
    pending: list[tuple[str, str, str, str]] = []  # env, stack, key, region
    for env, region in envs:
        region = region or DEFAULT_REGION
        results[env.name] = {}
        for stack in env.stacks:
            key = cache.key(stack.text, region)
            findings = cache.get(key)
            if findings is None:
                pending.append((env.name, stack.name, key, region))
                results[env.name][stack.name] = []
            else:
                results[env.name][stack.name] = findings
    texts = {(e.name, s.name): s.text for e, _r in envs for s in e.stacks}
    unique: dict[str, tuple[str, str]] = {}
    for env_name, stack_name, key, region in pending:
        unique.setdefault(key, (texts[(env_name, stack_name)], region))
    linted = dict(zip(unique, lint_many(list(unique.values()), workers))) if unique else {}
    for key, findings in linted.items():
        cache.put(key, findings)
    for env_name, stack_name, key, _region in pending:
        results[env_name][stack_name] = linted[key]
    return results


def lint_environment(env: Environment, region: str | None, cache: LintCache) -> dict[str, list[Finding]]:
    """Stack display name -> findings for one environment."""
    return lint_all([(env, region or DEFAULT_REGION)], cache)[env.name]
