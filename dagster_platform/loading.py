"""Load a code location's real Dagster definitions from a Python file, as Dagster itself does."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from types import ModuleType

from dagster import Definitions, RepositoryDefinition
from dagster._core.code_pointer import load_python_file
from dagster._core.definitions.reconstruct import repository_def_from_target_def
from dagster._core.errors import DagsterImportError
from dagster._core.workspace.autodiscovery import loadable_targets_from_loaded_module

from dagster_platform.policy import RunPolicy, using_policy
from dagster_platform.tags import RunPolicyViolation, checking_definitions

#: The attribute Dagster's project templates and docs use for a location's Definitions.
CONVENTIONAL_ATTRIBUTE = "defs"


class DefinitionsLoadError(Exception):
    """The file cannot be imported or holds no loadable definitions (a usage error, exit 2)."""


@dataclass(frozen=True)
class LoadedDefinitions:
    path: str
    attribute: str
    repository: RepositoryDefinition
    #: The location's own Python files that the import loaded (the definitions file first).
    sources: tuple[str, ...] = ()


def load_definitions(
    path: str, *, working_directory: str | None = None, policy: RunPolicy | None = None
) -> LoadedDefinitions:
    """Import ``path`` and resolve its definitions into a repository.

    The module-level ``defs`` wins when it is a ``Definitions``; otherwise Dagster's own
    autodiscovery picks the target (one ``Definitions``, a ``@definitions`` function, a repository,
    a single job, or loose assets) and reports ambiguity its usual way. With ``policy`` given,
    the tag helpers called while importing apply that policy, so a helper's
    :class:`RunPolicyViolation` propagates to the caller as a policy violation.
    """
    if not os.path.isfile(path):
        raise DefinitionsLoadError(f"{path}: no such file")
    directory = working_directory or os.getcwd()
    before = set(sys.modules)
    if policy is None:
        loaded = _load(path, directory)
    else:
        # the helpers return their tags instead of raising: the checker then reports every
        # problem on the definition that carries the tags, with its name and line
        with using_policy(policy), checking_definitions():
            loaded = _load(path, directory)
    return dataclasses.replace(loaded, sources=_user_sources(path, set(sys.modules) - before))


def _user_sources(path: str, new_modules: set[str]) -> tuple[str, ...]:
    files = [os.path.abspath(path)]
    for name in sorted(new_modules):
        filename = getattr(sys.modules.get(name), "__file__", None)
        if filename and filename.endswith(".py") and _is_user_file(os.path.abspath(filename)):
            if os.path.abspath(filename) not in files:
                files.append(os.path.abspath(filename))
    return tuple(files)


def _load(path: str, working_directory: str) -> LoadedDefinitions:
    try:
        module = load_python_file(path, working_directory)
        attribute, target = _find_target(module)
        repository = repository_def_from_target_def(target)
        if repository is not None:
            # Build every lazily constructed job, schedule and sensor now, as a code server does
            # when it loads the location, so loading errors surface here and not mid-check.
            repository.load_all_definitions()
    except (RunPolicyViolation, DefinitionsLoadError):
        raise
    except Exception as exc:  # user code can raise anything while importing; report it, don't crash
        raise DefinitionsLoadError(
            f"{path}: cannot load definitions: {_describe(exc, working_directory)}"
        ) from exc
    if repository is None:
        raise DefinitionsLoadError(f"{path}: '{attribute}' is not a Dagster Definitions object")
    return LoadedDefinitions(path=path, attribute=attribute, repository=repository)


def _find_target(module: ModuleType) -> tuple[str, object]:
    conventional = getattr(module, CONVENTIONAL_ATTRIBUTE, None)
    if isinstance(conventional, Definitions):
        return CONVENTIONAL_ATTRIBUTE, conventional
    targets = loadable_targets_from_loaded_module(module)
    if len(targets) != 1:
        names = ", ".join(target.attribute for target in targets)
        raise DefinitionsLoadError(f"{module.__file__}: found several definitions ({names}); keep one")
    return targets[0].attribute, targets[0].target_definition


def _describe(exc: BaseException, working_directory: str) -> str:
    """One line: the error to fix (Dagster's import wrapper's cause) and where in the user's code."""
    root = exc
    while isinstance(root, DagsterImportError) and root.__cause__ is not None:
        root = root.__cause__
    lines = str(root).strip().splitlines()
    message = f"{type(root).__name__}: {lines[0]}" if lines else type(root).__name__
    frame = _last_user_frame(root)
    if frame:
        message += f" ({frame})"
    if isinstance(root, ImportError):
        message += f"; local modules are imported from {working_directory} (see --working-directory)"
    return message


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _last_user_frame(exc: BaseException) -> str | None:
    """``file:line`` of the deepest frame in the user's own code, if any."""
    traceback = exc.__traceback__
    location = None
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if _is_user_file(filename):
            location = f"{filename}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return location


def _is_user_file(filename: str) -> bool:
    if filename.startswith("<") or filename.startswith(_PACKAGE_DIR):
        return False
    return f"{os.sep}site-packages{os.sep}" not in filename and not filename.startswith(sys.base_prefix)
