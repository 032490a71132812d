"""Reusable field types whose error messages say what is allowed."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

#: Values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class StrictModel(BaseModel):
    """Immutable, and unknown keys are errors rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _strict_int(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number, got {type(value).__name__}")
    return value


def between(low: int, high: int):
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def int_between(low: int, high: int):
    return Annotated[int, BeforeValidator(_strict_int), AfterValidator(between(low, high))]


def non_empty(what: str):
    def check(values: tuple) -> tuple:
        if not values:
            raise ValueError(f"must list at least one {what}")
        return values

    return check


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"is not a CloudWatch Logs retention; allowed days: {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return value


RetentionDays = Annotated[int, BeforeValidator(_strict_int), AfterValidator(_retention)]


def matching(pattern: str, description: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {description}")
        return value

    return Annotated[str, AfterValidator(check)]


Name = matching(r"[a-z][a-z0-9-]{0,38}[a-z0-9]", "2-40 lowercase letters, digits or '-', starting with a letter")
DeploymentName = matching(r"[a-z0-9][a-z0-9-]{0,62}", "a Dagster+ deployment name (lowercase letters, digits, '-')")
Organization = matching(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", "a non-empty Dagster+ organization name (letters, digits, '-', '_')")
AccountId = matching(r"\d{12}", "a 12-digit AWS account id")
VpcId = matching(r"vpc-[0-9a-f]{8,17}", "a VPC id such as vpc-0abc12345def67890")
SubnetId = matching(r"subnet-[0-9a-f]{8,17}", "a subnet id such as subnet-0abc12345def67890")
ImageVersion = matching(r"\d+\.\d+\.\d+", "a pinned release such as 1.13.27 (no 'latest')")
Email = matching(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", "an email address")


def _known_region(value: str) -> str:
    from .aws_models import known_regions

    if value not in known_regions():
        raise ValueError("is not an AWS region (botocore knows none by this name); for example eu-west-1 or us-east-1")
    return value


Region = Annotated[str, AfterValidator(_known_region)]


def _secret_arn(value: str) -> str:
    from .secret_refs import check_secret_arn

    return check_secret_arn(value)


#: A complete Secrets Manager ARN, including the six characters AWS appends to the name.
SecretArn = Annotated[str, AfterValidator(_secret_arn)]


def _vpc_cidr(value: str) -> str:
    from .subnet_plan import parse_vpc_cidr

    parse_vpc_cidr(value)
    return value


#: A VPC's IPv4 block: no host bits, valid octets, /16 to /28 (whether subnets fit is checked with the mode).
Cidr = Annotated[str, AfterValidator(_vpc_cidr)]


def _tag_key(value: str) -> str:
    from .tags import check_tag_key

    return check_tag_key(value)


#: A valid AWS tag key (lengths and characters from the service models; no ``aws:`` prefix).
TagKey = Annotated[str, AfterValidator(_tag_key)]


def unique(what: str):
    """An ``AfterValidator`` refusing a list that names the same item twice."""

    def check(values: tuple) -> tuple:
        repeated = sorted({str(value) for value in values if values.count(value) > 1})
        if repeated:
            raise ValueError(f"lists {what} {', '.join(repeated)} more than once")
        return values

    return check


def _secret_name(value: str) -> str:
    from .secret_refs import check_secret_name

    return check_secret_name(value)


#: A Secrets Manager secret name (ASCII letters, digits, ``/_+=.@-``; length from the API model).
SecretName = Annotated[str, AfterValidator(_secret_name)]
