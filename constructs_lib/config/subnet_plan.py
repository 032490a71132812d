"""How a new VPC's CIDR is cut into subnets, shared by the config validation and DagsterNetwork.

The platform keeps the roomy layout when the VPC allows it (public ``/24`` per AZ, private
``/20`` per AZ); in a smaller VPC the private subnets (where tasks run) get the largest size that
fits, then the public ones. CDK allocates subnets one
after another, each aligned to its own size, group by group in configuration order; the plan
simulates exactly that, so a CIDR the plan accepts is one CDK can carve (the tests synthesize
every accepted size).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

#: AWS limits on a VPC's IPv4 block and on a subnet (EC2 User Guide, "VPC CIDR blocks").
VPC_PREFIX_RANGE = (16, 28)
SMALLEST_SUBNET_PREFIX = 28
#: The preferred masks, kept when they fit (public subnets hold NAT gateways, private ones tasks).
PREFERRED_MASKS = {"public": 24, "private": 20}


class CidrProblem(ValueError):
    pass


def parse_vpc_cidr(text: str) -> ipaddress.IPv4Network:
    """The VPC's network; :class:`CidrProblem` says what is wrong (format, octets, host bits, size)."""
    if not isinstance(text, str) or "/" not in text:
        raise CidrProblem("must be an IPv4 CIDR block such as 10.40.0.0/16")
    try:
        network = ipaddress.IPv4Network(text, strict=False)
    except ValueError as error:
        raise CidrProblem(f"is not an IPv4 CIDR block ({error})") from None
    if str(network) != text:
        if network.network_address != ipaddress.IPv4Interface(text).ip:
            raise CidrProblem(
                f"has host bits set: the block it names is {network} (a different network); write {network}"
            )
        raise CidrProblem(f"write it as {network}")
    low, high = VPC_PREFIX_RANGE
    if not low <= network.prefixlen <= high:
        raise CidrProblem(f"a VPC's block must be between /{low} and /{high}, not /{network.prefixlen}")
    return network


@dataclass(frozen=True)
class SubnetPlan:
    groups: tuple[str, ...]
    masks: dict[str, int]


def subnet_groups(mode: str) -> tuple[str, ...]:
    return ("public",) if mode == "public" else ("public", "private")


def _fits(prefix: int, azs: int, groups: tuple[str, ...], masks: dict[str, int]) -> bool:
    cursor, capacity = 0, 2 ** (32 - prefix)
    for group in groups:
        size = 2 ** (32 - masks[group])
        for _ in range(azs):
            cursor = -(-cursor // size) * size  # align up
            cursor += size
    return cursor <= capacity


def plan_subnets(prefix: int, azs: int, mode: str) -> SubnetPlan:
    """Masks for each subnet group of a new VPC with a ``/prefix`` block over ``azs`` zones: the
    preferred masks when they fit, else the largest private subnets (then public) that fit.

    Raises :class:`CidrProblem` naming the smallest block that fits when none does.
    """
    groups = subnet_groups(mode)
    candidates = {
        group: range(PREFERRED_MASKS[group], SMALLEST_SUBNET_PREFIX + 1) for group in groups
    }
    if mode == "public":
        options = ({"public": public} for public in candidates["public"])
    else:
        options = (
            {"public": public, "private": private}
            for private in candidates["private"]
            for public in candidates["public"]
        )
    for masks in options:
        if _fits(prefix, azs, groups, masks):
            return SubnetPlan(groups, masks)
    count = azs * len(groups)
    largest = SMALLEST_SUBNET_PREFIX - math.ceil(math.log2(count))
    raise CidrProblem(
        f"/{prefix} is too small for {count} subnets ({' and '.join(groups)} in each of {azs} AZs; "
        f"a subnet is at least /{SMALLEST_SUBNET_PREFIX}): use /{largest} or larger"
    )
