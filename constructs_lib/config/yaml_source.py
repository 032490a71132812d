"""Read an environment file's YAML, rejecting duplicate keys at any depth.

PyYAML's ``safe_load`` keeps the last of two equal keys, so a second ``analytics:`` under
``code_locations`` silently replaces the first. :func:`load_yaml` composes the node tree, walks
it to find every repeated key (with its dotted path and both line numbers), then builds the same
plain data ``safe_load`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class DuplicateKey:
    path: str
    line: int
    first_line: int

    def describe(self) -> str:
        return (
            f"{self.path}: duplicate key at line {self.line} (first at line {self.first_line}); "
            "YAML would silently keep only the last one, so merge the two entries"
        )


def _walk(node: yaml.Node, path: str, found: list[DuplicateKey], visited: set[int], loader: yaml.SafeLoader) -> None:
    if id(node) in visited:  # anchors/aliases share nodes
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # '<<: *anchor' may be overridden by explicit keys, by design
                continue
            key = loader.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{path}.{key}" if path else str(key)
            if key is not None:
                line = key_node.start_mark.line + 1
                if key in seen:
                    found.append(DuplicateKey(child, line, seen[key]))
                else:
                    seen[key] = line
            _walk(value_node, child, found, visited, loader)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{path}[{index}]", found, visited, loader)


def load_yaml(text: str) -> tuple[Any, list[DuplicateKey]]:
    """The document (as ``yaml.safe_load`` builds it) and every duplicate key, in file order.

    Raises ``yaml.YAMLError`` for text that is not YAML.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        duplicates: list[DuplicateKey] = []
        _walk(node, "", duplicates, set(), loader)
        return loader.construct_document(node), sorted(duplicates, key=lambda item: item.line)
    finally:
        loader.dispose()
