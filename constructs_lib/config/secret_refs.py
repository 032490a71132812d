"""Secrets Manager references as the environment file writes them, parsed once.

Accepted forms (the value of ``code_locations.<name>.secrets.<ENV_VAR>``):

* ``name`` — a secret of this account and region, its whole value;
* ``name:json_key`` — one key of a JSON secret;
* ``arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf`` — a full ARN, which
  includes the six characters Secrets Manager appends (ECS and IAM need the complete ARN: a
  partial one matches no secret), optionally followed by ``:json_key``.

:func:`parse_secret_reference` validates and returns the renderers' value object,
:class:`constructs_lib.secrets_reference.SecretReference`: ``name``, ``arn`` (None for the name
forms) and ``json_key``.
"""

from __future__ import annotations

import re
from ..secrets_reference import SecretReference
from .aws_models import shape_limits

_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]+")
_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:"
    r"(?P<name>[A-Za-z0-9/_+=.@-]+)-(?P<suffix>[A-Za-z0-9]{6})"
)
_JSON_KEY = re.compile(r"[^:\s]+")
FORMS = "a secret name, name:json_key, or a full secret ARN (ending in the 6-character suffix) with optional :json_key"


class SecretReferenceProblem(ValueError):
    pass


def _check_name(name: str) -> None:
    limit = shape_limits("secretsmanager", "NameType")["max"]
    if not _NAME.fullmatch(name):
        raise SecretReferenceProblem("a secret name may contain only ASCII letters, digits and / _ + = . @ -")
    if len(name) > limit:
        raise SecretReferenceProblem(f"a secret name may have at most {limit} characters, this has {len(name)}")


def _check_json_key(key: str | None) -> None:
    if key is not None and not _JSON_KEY.fullmatch(key):
        raise SecretReferenceProblem("the :json_key part must be a non-empty key without ':' or spaces")


def parse_secret_arn(text: str) -> SecretReference:
    """A complete secret ARN (with its six-character suffix), without a JSON key."""
    match = _ARN.fullmatch(text)
    if not match:
        if text.startswith("arn:") and re.fullmatch(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^:]+", text):
            raise SecretReferenceProblem(
                "a secret ARN must end with the 6 characters Secrets Manager appends to the name "
                "(...:secret:<name>-AbCdEf); copy the complete ARN from the console or `aws secretsmanager describe-secret`"
            )
        raise SecretReferenceProblem(
            "must be a complete Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>-AbCdEf"
        )
    _check_name(match["name"])
    return SecretReference.parse(text)


def parse_secret_reference(text: str) -> SecretReference:
    """Parse one of the documented forms; :class:`SecretReferenceProblem` says what is wrong."""
    if not isinstance(text, str) or not text:
        raise SecretReferenceProblem("must be " + FORMS)
    if text.startswith("arn:"):
        parts = text.split(":")
        base, extra = ":".join(parts[:7]), parts[7:]
        if len(extra) > 1:
            raise SecretReferenceProblem(
                "after the ARN only one :json_key may follow (version stages and ids are not supported here)"
            )
        parse_secret_arn(base)
        _check_json_key(extra[0] if extra else None)
        return SecretReference.parse(text)
    name, _, json_key = text.partition(":")
    if ":" in json_key:
        raise SecretReferenceProblem("must be " + FORMS + "; only one ':' may follow the name")
    _check_name(name)
    _check_json_key(json_key if _ else None)
    return SecretReference.parse(text)


def check_secret_reference(text: str) -> str:
    """Pydantic ``AfterValidator``: keeps the text, raises if it is not a valid reference."""
    parse_secret_reference(text)
    return text


def check_secret_name(text: str) -> str:
    """Pydantic ``AfterValidator`` for a field holding a plain secret name."""
    if text.startswith("arn:"):
        raise SecretReferenceProblem("must be a secret name, not an ARN")
    _check_name(text)
    return text


def check_secret_arn(text: str) -> str:
    parse_secret_arn(text)
    return text
