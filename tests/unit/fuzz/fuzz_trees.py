"""Paths into parsed YAML/JSON trees, for the fuzz tests that edit one value in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def tree_paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``tree`` (keys and list indexes), the root's ``()`` first."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from tree_paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from tree_paths(value, (*prefix, index))
