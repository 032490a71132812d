"""Assemble a Lambda asset folder from pure-Python sources, without Docker.

The relay's code lives in ``lambdas/alert_relay``; it also needs the shared alert contract from
``dagster_platform`` (one source of truth for both sides) and the environment's ``routes.json``.
This copies them into a content-addressed folder that ``lambda_.Code.from_asset`` stages, so the
asset hash changes exactly when any of them changes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[2]
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


def relay_asset(routes_json: str) -> Path:
    return assemble(
        folders={"": ROOT / "lambdas" / "alert_relay"},
        files={
            "dagster_platform/__init__.py": ROOT / "dagster_platform" / "__init__.py",
            "dagster_platform/alert_contract.py": ROOT / "dagster_platform" / "alert_contract.py",
        },
        generated={"routes.json": routes_json},
    )


def webhook_asset() -> Path:
    return assemble(folders={"": ROOT / "lambdas" / "alert_webhook"})
