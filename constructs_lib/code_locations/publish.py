"""Publish an environment's code-location files where a code location's CI fetches them with one command.

Each file becomes an SSM Parameter Store parameter ``/dagster-platform/<environment>/<file name>`` written at
deploy, so a code-location repository never copies ``dagster_cloud.yaml`` or ``run_policy.json`` by hand::

    aws ssm get-parameter --name /dagster-platform/prod/run_policy.json --query Parameter.Value --output text > run_policy.json

The limits are Parameter Store's, read from botocore's model of ``PutParameter`` (standard tier up to 4 KB,
advanced up to 8 KB; a value may not contain ``{{``): a file takes the standard tier when it fits and the
advanced tier (charged per parameter) only when it must; a larger file stops synth with one line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Mapping

from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

#: Parameter names: ``<prefix>/<environment>/<file name>``.
DEFAULT_PREFIX = "/dagster-platform"


@dataclass(frozen=True)
class ParameterLimits:
    standard_bytes: int
    advanced_bytes: int
    name_length: int


@functools.cache
def parameter_limits() -> ParameterLimits:
    """Parameter Store's value limits as botocore's ``PutParameter`` model documents them, and the name length."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ssm")
    members = model.operation_model("PutParameter").input_shape.members
    match = re.search(
        r"Standard parameters have a value limit of (\d+) KB\. Advanced parameters have a value limit of (\d+) KB",
        members["Value"].documentation,
    )
    if match is None:
        raise RuntimeError("botocore's PutParameter.Value no longer documents the tier limits; update publish.py")
    return ParameterLimits(
        standard_bytes=int(match.group(1)) * 1024,
        advanced_bytes=int(match.group(2)) * 1024,
        name_length=members["Name"].metadata["max"],
    )


def parameter_name(environment_name: str, file_name: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}/{environment_name}/{file_name}"


def fetch_command(environment_name: str, file_name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The one command a code location's CI runs to get ``file_name`` of an environment (the README shows it)."""
    return (
        f"aws ssm get-parameter --name {parameter_name(environment_name, file_name, prefix)} "
        f"--query Parameter.Value --output text > {file_name}"
    )


def parameter_tier(name: str, text: str) -> ssm.ParameterTier:
    """The cheapest tier that holds ``text``; a ValueError naming the parameter, its size and the limit otherwise."""
    limits = parameter_limits()
    size = len(text.encode())
    if "{{" in text:
        raise ValueError(f"{name}: the value contains '{{{{', which Parameter Store refuses in a parameter value")
    if len(name) > limits.name_length:
        raise ValueError(f"{name}: {len(name)} characters; Parameter Store allows at most {limits.name_length}")
    if size <= limits.standard_bytes:
        return ssm.ParameterTier.STANDARD
    if size <= limits.advanced_bytes:
        return ssm.ParameterTier.ADVANCED
    raise ValueError(
        f"{name}: {size} bytes; Parameter Store holds at most {limits.advanced_bytes} bytes (advanced tier)"
    )


class CodeLocationFiles(Construct):
    """Publishes an environment's code-location files (``dagster_cloud.yaml``, ``run_policy.json``) as SSM
    parameters ``<prefix>/<environment>/<file name>``, so a code location's CI fetches each with one
    ``aws ssm get-parameter`` call (see the module docstring).

    Attributes: ``parameters`` (file name -> ``ssm.StringParameter``), ``parameter_names`` (file name ->
    parameter name), ``path`` (``<prefix>/<environment>``). Let a CI role read them with :meth:`grant_read`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        files: Mapping[str, str],
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        """``environment_name``: the environment the files belong to (the second path segment).
        ``files``: file name -> exact text, e.g. ``{"dagster_cloud.yaml": ..., "run_policy.json": ...}`` as
        rendered by :func:`~constructs_lib.code_locations.render_dagster_cloud_yaml` and
        :func:`~constructs_lib.code_locations.render_run_policy_json`; each is stored verbatim.
        ``prefix``: the first path segment (default ``/dagster-platform``).
        Raises ValueError, one line, when a file cannot be a parameter (too large, contains ``{{``)."""
        super().__init__(scope, construct_id)
        self.path = f"{prefix}/{environment_name}"
        self.parameters: dict[str, ssm.StringParameter] = {}
        self.parameter_names: dict[str, str] = {}
        for file_name, text in sorted(files.items()):
            name = parameter_name(environment_name, file_name, prefix)
            self.parameters[file_name] = ssm.StringParameter(
                self,
                file_name,
                parameter_name=name,
                string_value=text,
                tier=parameter_tier(name, text),
                description=f"{file_name} of Dagster environment {environment_name}, for code-location CI",
            )
            self.parameter_names[file_name] = name

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` (a code location's CI role) read these parameters, and nothing else in Parameter Store."""
        for parameter in self.parameters.values():
            parameter.grant_read(grantee)
