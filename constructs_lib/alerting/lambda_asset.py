"""Assemble a Lambda asset folder from pure-Python sources, without Docker.

The relay's code lives in ``lambdas/alert_relay`` of the repository; the wheel of this library carries it
(and the webhook's) as package data under ``constructs_lib/lambda_code/`` (see pyproject.toml), and
:func:`lambda_source` finds it with :mod:`importlib.resources` in either place. The relay also needs the shared
alert contract from ``dagster_platform`` (one source of truth for both sides, found the same way in its own
distribution) and the environment's ``routes.json``. This copies them into a content-addressed folder that
``lambda_.Code.from_asset`` stages, so the asset hash changes exactly when any of them changes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Mapping

#: Lambda folders shipped in the wheel as ``constructs_lib/lambda_code/<name>`` (mapped from ``lambdas/<name>``).
PACKAGED_LAMBDAS = "lambda_code"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.example.json")


def assemble(
    folders: Mapping[str, Path],
    files: Mapping[str, Path] | None = None,
    generated: Mapping[str, str] | None = None,
) -> Path:
    """``folders``: destination -> source folder ("" for the root); ``files``: destination ->
    source file; ``generated``: destination -> text. Returns the assembled folder."""
    files = files or {}
    generated = generated or {}
    digest = hashlib.sha256()
    for destination, source in sorted(folders.items()):
        for path in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            if path.name.endswith(".example.json"):
                continue
            digest.update(f"{destination}/{path.relative_to(source)}".encode())
            digest.update(path.read_bytes())
    for destination, source in sorted(files.items()):
        digest.update(destination.encode())
        digest.update(source.read_bytes())
    for destination, text in sorted(generated.items()):
        digest.update(destination.encode())
        digest.update(text.encode())
    target = Path(tempfile.gettempdir()) / "dagster-platform-assets" / digest.hexdigest()[:32]
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=target.parent))
    for destination, source in folders.items():
        shutil.copytree(source, staging / destination, ignore=IGNORED, dirs_exist_ok=True)
    for destination, source in files.items():
        (staging / destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, staging / destination)
    for destination, text in generated.items():
        (staging / destination).parent.mkdir(parents=True, exist_ok=True)
        (staging / destination).write_text(text)
    try:
        staging.rename(target)
    except OSError:  # another process assembled the same content first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _as_path(traversable) -> Path:
    """Lambda code is staged with ``Code.from_asset``, which needs a real folder: installed wheels and source trees
    both give one (a zipped install would not; pip never installs a wheel zipped)."""
    path = Path(str(traversable))
    if not path.is_dir():
        raise FileNotFoundError(f"{traversable} is not a folder on disk; install the package unzipped")
    return path


def lambda_source(name: str) -> Path:
    """The folder of the Lambda ``name`` (``alert_relay``, ``alert_webhook``): the package data of an installed
    wheel, else ``lambdas/<name>`` next to ``constructs_lib`` in a source tree."""
    packaged = resources.files("constructs_lib").joinpath(PACKAGED_LAMBDAS, name)
    if packaged.is_dir():
        return _as_path(packaged)
    in_tree = resources.files("constructs_lib").joinpath("..", "lambdas", name)
    if in_tree.is_dir():
        return _as_path(in_tree).resolve()
    raise FileNotFoundError(
        f"Lambda code {name!r} not found: neither constructs_lib/{PACKAGED_LAMBDAS}/{name} (installed wheel) "
        f"nor lambdas/{name} (source tree)"
    )


def _contract_file(name: str) -> Path:
    return _as_path(resources.files("dagster_platform")).joinpath(name)


def relay_asset(routes_json: str) -> Path:
    return assemble(
        folders={"": lambda_source("alert_relay")},
        files={
            "dagster_platform/__init__.py": _contract_file("__init__.py"),
            "dagster_platform/alert_contract.py": _contract_file("alert_contract.py"),
        },
        generated={"routes.json": routes_json},
    )


def webhook_asset() -> Path:
    return assemble(folders={"": lambda_source("alert_webhook")})
