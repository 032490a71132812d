"""Check the rendered Dagster files with Dagster's own schemas and loaders, at synth.

=========================== ================================================================
File                        Checked by
=========================== ================================================================
``dagster.yaml`` (agent)    ``dagster._core.instance.config.dagster_instance_config``, the loader
                            the agent runs at start (dagster-cloud's ``DagsterCloudAgentInstance``
                            schema, incl. ``python_logs``); then every configurable block
                            (``user_code_launcher``, ``compute_logs``, ...) against the
                            ``config_type()`` of the class it names (dagster-cloud's
                            ``EcsUserCodeLauncher``, dagster-aws's ``S3ComputeLogManager``)
``dagster_cloud.yaml``      dagster-cloud-cli's ``DagsterCloudYaml`` model, then each location's
                            ``container_context.ecs`` against dagster-aws's
                            ``ECS_CONTAINER_CONTEXT_SCHEMA``
``deployment_settings.yaml`` each section against the section of the same name in Dagster's
                            instance schema (``run_retries``, ``concurrency``, ``run_monitoring``);
                            Dagster+ checks the file server-side and ships no schema for it
``alert_policies.yaml``     only its shape (a list under ``alert_policies`` of mappings with
                            ``name``, ``event_types``, ``notification_service``): dagster-cloud
                            ships no alert-policy schema; Dagster+ checks it on ``sync``
=========================== ================================================================

``{env: NAME}`` references are checked as references (Dagster resolves them in the agent).
A problem is one line: ``<file>: <where>: <what>``. Files that passed are remembered in
``<outdir>/.platform-checks/dagster-files.json`` by the SHA-256 of their text and the versions of
the checking libraries, so an unchanged file costs nothing (Dagster is not even imported).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

CACHE_DIR = ".platform-checks"
CACHE_FILE = "dagster-files.json"
CHECKING_PACKAGES = ("dagster", "dagster-aws", "dagster-cloud", "dagster-cloud-cli")
CACHE_LIMIT = 200


class DagsterFileError(Exception):
    """Rendered Dagster files that Dagster would refuse. ``str(error)``: one line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _config_errors(label: str, result: Any) -> list[str]:
    return [f"{label}: {_one_line(error.message)}" for error in (result.errors or [])]


def _configurable_blocks(document: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (key, value)
        for key, value in document.items()
        if isinstance(value, Mapping) and {"module", "class"} <= set(value) and key != "instance_class"
    ]


def check_agent_instance(text: str) -> list[str]:
    """``dagster.yaml`` of the agent: loaded the way the agent loads it, then each configured class."""
    from dagster._config import validate_config
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    document = yaml.safe_load(text)
    if not isinstance(document, Mapping):
        return ["the document is not a mapping"]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dagster-home-") as home:
        (Path(home) / "dagster.yaml").write_text(text)
        try:
            _config, instance_class = dagster_instance_config(home)
        except DagsterInvalidConfigError as error:
            return [_one_line(e.message) for e in error.errors] or [_one_line(str(error))]
        except Exception as error:  # import errors of instance_class and the like
            return [_one_line(f"{type(error).__name__}: {error}")]
    if instance_class is None or instance_class.__name__ != "DagsterCloudAgentInstance":
        problems.append(f"instance_class: {getattr(instance_class, '__name__', None)}, not DagsterCloudAgentInstance")
    for key, block in _configurable_blocks(document):
        try:
            cls = getattr(importlib.import_module(block["module"]), block["class"])
        except (ImportError, AttributeError) as error:
            problems.append(f"{key}: {block['module']}.{block['class']} cannot be imported ({_one_line(str(error))})")
            continue
        problems += _config_errors(key, validate_config(cls.config_type(), block.get("config") or {}))
    return problems


def check_dagster_cloud_yaml(text: str) -> list[str]:
    """``dagster_cloud.yaml``: dagster-cloud-cli's model, then each ECS container context."""
    from dagster._config import validate_config
    from dagster_aws.ecs.container_context import ECS_CONTAINER_CONTEXT_SCHEMA
    from dagster_cloud_cli.config.models import DagsterCloudYaml
    from pydantic import ValidationError

    document = yaml.safe_load(text)
    try:
        DagsterCloudYaml.model_validate(document)
    except ValidationError as error:
        return [
            f"{'.'.join(str(part) for part in item['loc']) or '(document)'}: {_one_line(item['msg'])}"
            for item in error.errors()
        ]
    problems: list[str] = []
    for location in document.get("locations") or []:
        ecs = ((location.get("container_context") or {}).get("ecs"))
        if ecs is None:
            continue
        label = f"locations[{location.get('location_name')}].container_context.ecs"
        problems += _config_errors(label, validate_config(ECS_CONTAINER_CONTEXT_SCHEMA, ecs))
    return problems


def check_deployment_settings(text: str) -> list[str]:
    """``deployment_settings.yaml``: each section against Dagster's instance schema of that name."""
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    document = yaml.safe_load(text) or {}
    if not isinstance(document, Mapping):
        return ["the document is not a mapping"]
    schema = dagster_instance_config_schema()
    checkable = ("concurrency", "run_monitoring", "run_retries")
    problems: list[str] = []
    for key, value in document.items():
        if key not in checkable:
            problems.append(f"{key}: no Dagster schema to check this section against; checked: {', '.join(checkable)}")
            continue
        problems += _config_errors(key, validate_config(schema[key].config_type, value))
    return problems


def check_alert_policies(text: str) -> list[str]:
    """``alert_policies.yaml``: the shape ``dagster-cloud deployment alert-policies sync`` sends."""
    document = yaml.safe_load(text)
    policies = document.get("alert_policies") if isinstance(document, Mapping) else None
    if not isinstance(policies, list):
        return ["alert_policies: must be a list of policies"]
    problems: list[str] = []
    for index, policy in enumerate(policies):
        if not isinstance(policy, Mapping):
            problems.append(f"alert_policies[{index}]: must be a mapping")
            continue
        for key in ("name", "event_types", "notification_service"):
            if key not in policy:
                problems.append(f"alert_policies[{index}].{key}: missing")
    names = [p.get("name") for p in policies if isinstance(p, Mapping)]
    for name in sorted({n for n in names if names.count(n) > 1}, key=str):
        problems.append(f"alert_policies: name {name!r} is used more than once")
    return problems


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "dagster.yaml": check_agent_instance,
    "dagster_cloud.yaml": check_dagster_cloud_yaml,
    "deployment_settings.yaml": check_deployment_settings,
    "alert_policies.yaml": check_alert_policies,
}


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in CHECKING_PACKAGES:
        try:
            found.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}==missing")
    return ",".join(found)


class CheckedCache:
    """Keys of (file name, text) pairs that passed, by checker versions; kept in the cloud assembly."""

    def __init__(self, outdir: str | Path | None) -> None:
        self.path = Path(outdir) / CACHE_DIR / CACHE_FILE if outdir is not None else None
        self.versions = _versions()
        self.keys: list[str] = []
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("versions") == self.versions:
                    self.keys = list(data.get("passed") or [])
            except (ValueError, AttributeError):
                self.keys = []
        self._known = set(self.keys)
        self.dirty = False

    def key(self, name: str, text: str) -> str:
        return hashlib.sha256(f"{self.versions}\0{name}\0{text}".encode()).hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._known

    def add(self, key: str) -> None:
        if key not in self._known:
            self._known.add(key)
            self.keys.append(key)
            self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"versions": self.versions, "passed": self.keys[-CACHE_LIMIT:]}))


def check_files(files: Mapping[str, Mapping[str, str]], *, outdir: str | Path | None = None) -> list[str]:
    """Problems of ``{label: {file name: text}}`` (label: e.g. ``cdk.out/dagster/dev``), one line each.

    Files without a checker (``run_policy.json``: read by ``dagster_platform``, which checks it
    itself) are skipped. ``outdir``: remember what passed in ``<outdir>/.platform-checks/``.
    """
    cache = CheckedCache(outdir)
    problems: list[str] = []
    for label, named in files.items():
        for name, text in named.items():
            check = CHECKS.get(name)
            if check is None:
                continue
            key = cache.key(name, text)
            if key in cache:
                continue
            try:
                found = check(text)
            except yaml.YAMLError as error:
                found = [f"not valid YAML ({_one_line(str(error))})"]
            if found:
                problems += [f"{label}/{name}: {line}" for line in found]
            else:
                cache.add(key)
    cache.save()
    return problems


def validate_files(files: Mapping[str, Mapping[str, str]], *, outdir: str | Path | None = None) -> None:
    """Raise :class:`DagsterFileError` with one line per problem, if any (see :func:`check_files`)."""
    problems = check_files(files, outdir=outdir)
    if problems:
        raise DagsterFileError(problems)
