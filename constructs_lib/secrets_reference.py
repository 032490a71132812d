"""Secrets as environment files name them, and the ARNs ECS needs (pure Python: no CDK)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Secrets Manager appends "-" and six random characters to the name in every secret ARN.
_FULL_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:"
    r"(?P<name>[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6})(?::(?P<json_key>[^:]*)(?::[^:]*:[^:]*)?)?$"
)


@dataclass(frozen=True)
class SecretReference:
    """A secret as an environment file names it: ``name``, ``name:json_key``, or a full ARN (with its six-character
    suffix), optionally ``arn...:json_key``. ``value_from`` gives what ECS needs: always an ARN, because ECS reads a
    ``valueFrom`` that is not a Secrets Manager ARN as an SSM parameter name."""

    name: str
    json_key: str | None = None
    arn: str | None = None

    @classmethod
    def parse(cls, text: str) -> "SecretReference":
        if text.startswith("arn:"):
            match = _FULL_ARN.match(text)
            if match is None:
                raise ValueError(
                    f"{text!r} is not a complete Secrets Manager ARN: arn:aws:secretsmanager:<region>:<account>:"
                    "secret:<name>-<6 characters>[:json_key]"
                )
            base = text.split(":secret:", 1)[0] + f":secret:{match['name']}"
            return cls(name=match["name"], json_key=match["json_key"] or None, arn=base)
        name, _, json_key = text.partition(":")
        return cls(name=name, json_key=json_key or None)

    def secret_arn(self, arn_prefix: str) -> str:
        """The (full or partial) secret ARN; ``arn_prefix`` is ``arn:<partition>:secretsmanager:<region>:<account>:secret:``."""
        return self.arn or f"{arn_prefix}{self.name}"

    def value_from(self, arn_prefix: str) -> str:
        arn = self.secret_arn(arn_prefix)
        return f"{arn}:{self.json_key}::" if self.json_key else arn


def secret_arn_prefix(partition: str, region: str, account: str) -> str:
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:"
