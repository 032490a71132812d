"""VPC blocks: every size the validation accepts synthesizes a VPC with CDK, the rest are refused with
the real bound, and host bits or bad octets never reach CloudFormation."""

from __future__ import annotations

import ipaddress

import pytest

from constructs_lib.config import NetworkSettings
from constructs_lib.config.subnet_plan import VPC_PREFIX_RANGE, CidrProblem, parse_vpc_cidr, plan_subnets

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
ACCOUNT, REGION = "123456789012", "eu-west-1"
SIZES = range(VPC_PREFIX_RANGE[0], VPC_PREFIX_RANGE[1] + 1)


def accepted(mode: str, azs: int, prefix: int) -> bool:
    try:
        NetworkSettings(mode=mode, cidr=f"10.0.0.0/{prefix}", max_azs=azs, nat_gateways=1)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def synthesized_vpcs():
    """One app: a DagsterNetwork for every accepted (mode, AZs, size), in an account with 3 pinned zones."""
    from aws_cdk import App, Environment, Stack

    from constructs_lib.network import DagsterNetwork

    app = App(context={f"availability-zones:account={ACCOUNT}:region={REGION}": ZONES})
    stacks = {}
    for mode in ("public", "private"):
        for azs in (2, 3):
            for prefix in SIZES:
                if not accepted(mode, azs, prefix):
                    continue
                stack = Stack(app, f"{mode}-{azs}-{prefix}", env=Environment(account=ACCOUNT, region=REGION))
                DagsterNetwork(stack, "Network", settings=NetworkSettings(
                    mode=mode, cidr=f"10.0.0.0/{prefix}", max_azs=azs, nat_gateways=1))
                stacks[(mode, azs, prefix)] = stack
    assembly = app.synth()
    return {key: assembly.get_stack_by_name(stack.stack_name).template for key, stack in stacks.items()}


def test_every_accepted_size_synthesizes_subnets_inside_the_vpc(synthesized_vpcs):
    assert len(synthesized_vpcs) >= 40
    for (mode, azs, prefix), template in synthesized_vpcs.items():
        vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
        subnets = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Subnet"]
        groups = 1 if mode == "public" else 2
        assert len(subnets) == azs * groups, (mode, azs, prefix)
        blocks = [ipaddress.IPv4Network(subnet["CidrBlock"]) for subnet in subnets]
        assert all(block.subnet_of(vpc) and block.prefixlen <= 28 for block in blocks), (mode, azs, prefix, blocks)
        assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
        assert {subnet["AvailabilityZone"] for subnet in subnets} == set(ZONES[:azs])


def test_sizes_are_refused_only_when_the_subnets_cannot_fit():
    refused = {(mode, azs, prefix) for mode in ("public", "private") for azs in (2, 3) for prefix in SIZES
               if not accepted(mode, azs, prefix)}
    # the smallest subnet is a /28: public needs 2-3 of them, private 4-6
    assert refused == {("public", 2, 28), ("public", 3, 27), ("public", 3, 28),
                       ("private", 2, 27), ("private", 2, 28),
                       ("private", 3, 26), ("private", 3, 27), ("private", 3, 28)}


def test_a_private_slash_20_and_a_public_slash_24_now_fit():
    """Both ended in a jsii traceback with the fixed /24 + /20 layout."""
    assert plan_subnets(20, 2, "private").masks == {"public": 24, "private": 22}
    assert plan_subnets(24, 2, "public").masks == {"public": 25}


def test_the_default_layout_is_kept_where_it_fits():
    assert plan_subnets(16, 3, "private").masks == {"public": 24, "private": 20}
    assert plan_subnets(16, 2, "public").masks == {"public": 24}


@pytest.mark.parametrize(
    ("cidr", "reason"),
    [
        ("10.41.7.0/16", "has host bits set: the block it names is 10.41.0.0/16"),
        ("10.256.0.0/16", "Octet 256 (> 255) not permitted"),
        ("10.0.0.0/15", "between /16 and /28, not /15"),
        ("10.0.0.0/29", "between /16 and /28, not /29"),
        ("10.0.0/16", "Expected 4 octets"),
        ("10.0.0.0", "must be an IPv4 CIDR block such as 10.40.0.0/16"),
        ("010.0.0.0/16", "Leading zeros are not permitted"),
        ("10.0.0.0/016", "write it as 10.0.0.0/16"),
    ],
)
def test_malformed_blocks_are_refused_with_the_reason(cidr, reason):
    with pytest.raises(CidrProblem, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_vpc_cidr(cidr)
