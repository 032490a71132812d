"""Rules for anything that becomes an AWS tag: the environment's ``tags:`` (applied to every
resource of the stage), tag keys that select secrets, and the ECS tags of code servers and runs.

Lengths and characters are read from the API models of the services whose resources carry
these tags (the strictest of them wins); the ``aws:`` prefix is reserved by AWS in any case
(CDK's ``Tags.of`` would silently skip such a key, and the APIs refuse it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .aws_models import CharacterClass, shape_limits

#: Services whose resources this platform tags, with the names of their tag key/value shapes.
_TAGGED_SERVICES = {
    "ecs": ("TagKey", "TagValue"),
    "iam": ("tagKeyType", "tagValueType"),
    "logs": ("TagKey", "TagValue"),
    "lambda": ("TagKey", "TagValue"),
    "firehose": ("TagKey", "TagValue"),
}
RESERVED_PREFIX = "aws:"


@dataclass(frozen=True)
class TagRules:
    key_max: int
    value_max: int
    key_chars: CharacterClass
    value_chars: CharacterClass
    max_tags: int


@lru_cache(maxsize=None)
def tag_rules() -> TagRules:
    keys = [shape_limits(service, shapes[0]) for service, shapes in _TAGGED_SERVICES.items()]
    values = [shape_limits(service, shapes[1]) for service, shapes in _TAGGED_SERVICES.items()]

    def strictest(limits: list[dict]) -> CharacterClass:
        classes = [CharacterClass.from_pattern(item["pattern"]) for item in limits if "pattern" in item]
        result = classes[0]
        for other in classes[1:]:
            result = result & other
        return result

    return TagRules(
        key_max=min(item["max"] for item in keys if "max" in item),
        value_max=min(item["max"] for item in values if "max" in item),
        key_chars=strictest(keys),
        value_chars=strictest(values),
        max_tags=shape_limits("ecs", "Tags")["max"],
    )


def tag_key_problem(key: object) -> str | None:
    """Why ``key`` cannot be an AWS tag key, or None."""
    rules = tag_rules()
    if not isinstance(key, str):
        return f"a tag key must be text, got {type(key).__name__}"
    if not key:
        return "a tag key must not be empty"
    if key.lower().startswith(RESERVED_PREFIX):
        return "the 'aws:' prefix (in any case) is reserved by AWS for its own tags"
    return _length_or_character_problem("a tag key", key, rules.key_max, rules.key_chars)


def tag_value_problem(value: object) -> str | None:
    """Why ``value`` cannot be an AWS tag value, or None."""
    rules = tag_rules()
    if not isinstance(value, str):
        return f"a tag value must be text (quote it in YAML), got {type(value).__name__}"
    return _length_or_character_problem("a tag value", value, rules.value_max, rules.value_chars)


def _length_or_character_problem(what: str, text: str, max_length: int, characters: CharacterClass) -> str | None:
    if len(text) > max_length:
        return f"{what} may have at most {max_length} characters, this has {len(text)}"
    bad = sorted({char for char in text if not characters.allows(char)})
    if bad:
        return f"{what} may contain only {characters.describe()}; not {' '.join(map(repr, bad))}"
    return None


def check_tag_key(key: str) -> str:
    """Pydantic ``AfterValidator`` for a field holding a tag key."""
    problem = tag_key_problem(key)
    if problem:
        raise ValueError(problem)
    return key
