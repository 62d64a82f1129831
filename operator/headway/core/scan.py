"""Finding what changed between two passes, with the loop in C: the caches and the
copy-on-write status hand over the same objects until something changes, so "changed"
is "not the same object", and at a thousand tasks a Python loop over them all would be
most of a pass."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from itertools import compress
from operator import is_not
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)


def changed_keys(new: Mapping[K, Any], old: Mapping[K, Any]) -> list[K]:
    """Keys of ``new`` whose value is not the very object ``old`` holds (or that ``old``
    lacks; values are never None)."""
    return list(compress(new, map(is_not, new.values(), map(old.get, new))))


def changed_positions(new: Sequence[Any], old: Sequence[Any]) -> list[int]:
    """Positions where two sequences of the same length hold different objects."""
    return list(compress(range(len(new)), map(is_not, new, old)))
