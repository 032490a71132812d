"""AWS limits read from the API models AWS publishes, not copied by hand.

botocore's service models carry the lengths, ranges and patterns each API enforces; cfn-lint
ships the CloudFormation resource schemas (for properties no API model bounds, such as S3
bucket names). Both load in milliseconds; each lookup is cached.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def _service_model(service: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def shape_limits(service: str, shape: str) -> dict:
    """``min``, ``max`` and ``pattern`` of a shape in a botocore service model (what is present)."""
    return dict(_service_model(service).shape_for(shape).metadata)


def member_limits(service: str, shape: str, member: str) -> dict:
    return dict(_service_model(service).shape_for(shape).members[member].metadata)


@lru_cache(maxsize=None)
def _cfn_schema(resource_type: str) -> dict:
    import importlib.util

    # the package's data files only: importing cfnlint itself costs about a second
    [package] = importlib.util.find_spec("cfnlint").submodule_search_locations
    base = Path(package) / "data" / "schemas"
    index = json.loads((base / "providers" / "us-east-1.json").read_text())
    return json.loads((base / "resources" / f"{index[resource_type]}.json").read_text())


def cfn_property(resource_type: str, name: str) -> dict:
    """A property's schema (``maxLength``, ``pattern``, ...) from the CloudFormation resource schema."""
    return _cfn_schema(resource_type)["properties"][name]


@lru_cache(maxsize=None)
def longest_region_name() -> int:
    """Length of the longest region name AWS publishes (botocore's endpoint data, all partitions)."""
    return max(map(len, known_regions()))


@lru_cache(maxsize=None)
def known_regions() -> frozenset[str]:
    """Every region in botocore's endpoint data, all partitions."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for service in ("ecs", "s3", "logs")
        for region in session.get_available_regions(service, partition_name=partition)
    )


@dataclass(frozen=True)
class CharacterClass:
    """The character class of a model pattern such as ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``:
    Unicode categories (``L`` letters, ``Z`` separators, ``N`` numbers) and literal characters.
    Python's ``re`` has no ``\\p{..}``, so the class is read into this form."""

    categories: frozenset[str]
    literals: frozenset[str]

    @classmethod
    def from_pattern(cls, pattern: str) -> CharacterClass:
        start = pattern.index("[")
        end = pattern.index("]", start)
        body = pattern[start + 1 : end]
        categories, literals = set(), set()
        index = 0
        while index < len(body):
            if body.startswith("\\p{", index):
                close = body.index("}", index)
                categories.add(body[index + 3 : close])
                index = close + 1
            elif body[index] == "\\":
                literals.add(body[index + 1])
                index += 2
            else:
                literals.add(body[index])
                index += 1
        return cls(frozenset(categories), frozenset(literals))

    def __and__(self, other: CharacterClass) -> CharacterClass:
        return CharacterClass(self.categories & other.categories, self.literals & other.literals)

    def allows(self, char: str) -> bool:
        return char in self.literals or unicodedata.category(char)[0] in self.categories

    def describe(self) -> str:
        names = {"L": "letters", "N": "digits", "Z": "spaces"}
        kinds = [names.get(category, category) for category in sorted(self.categories, key="LNZ".find)]
        return f"{', '.join(kinds)} and {' '.join(sorted(self.literals))}"
