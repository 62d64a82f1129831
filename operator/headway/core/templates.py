"""``{{ params.NAME }}``, ``{{ tasks.TASK.outputs.KEY }}`` and, in a map task, ``{{ item }}``,
``{{ item.KEY }}`` and ``{{ index }}`` references: find and substitute.

Substitution is textual; no code is evaluated. A non-string output value is
inserted as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_REFERENCE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PARAM = re.compile(r"params\.([A-Za-z_][A-Za-z0-9_]*)")
_OUTPUT = re.compile(r"tasks\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.outputs\.([A-Za-z0-9_-]+)")
_ITEM = re.compile(r"item(?:\.([A-Za-z0-9_-]+))?")


class TemplateError(ValueError):
    """A reference cannot be resolved; the message names it."""


@dataclass(frozen=True)
class ParamRef:
    name: str


@dataclass(frozen=True)
class OutputRef:
    task: str
    key: str


@dataclass(frozen=True)
class ItemRef:
    key: str | None  # None: the whole item


@dataclass(frozen=True)
class IndexRef:
    pass


@dataclass(frozen=True)
class BadRef:
    expression: str


Reference = ParamRef | OutputRef | ItemRef | IndexRef | BadRef


@dataclass(frozen=True)
class Item:
    """One map item, for substitution: its place in the list and its value."""

    index: int
    value: Any


def _parse(expression: str) -> Reference:
    if match := _PARAM.fullmatch(expression):
        return ParamRef(match.group(1))
    if match := _OUTPUT.fullmatch(expression):
        return OutputRef(match.group(1), match.group(3))
    if match := _ITEM.fullmatch(expression):
        return ItemRef(match.group(1))
    if expression == "index":
        return IndexRef()
    return BadRef(expression)


def references(text: str) -> list[Reference]:
    return [_parse(m.group(1)) for m in _REFERENCE.finditer(text)]


def text_of(value: Any) -> str:
    """A value as substituted: a string as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def item_value(item: Item, key: str | None) -> Any:
    """The item, or its ``key``; raises ``TemplateError`` naming what is missing."""
    if key is None:
        return item.value
    if not isinstance(item.value, dict):
        kind = type(item.value).__name__
        raise TemplateError(f'item {item.index} is a {kind}, not an object with key "{key}"')
    if key not in item.value:
        raise TemplateError(f'item {item.index} has no key "{key}"')
    return item.value[key]


def substitute(
    text: str,
    params: Mapping[str, str],
    inputs: Mapping[str, Mapping[str, Any]],
    item: Item | None = None,
) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = _parse(match.group(1))
        if isinstance(ref, ItemRef | IndexRef):
            if item is None:
                raise TemplateError(f"{{{{ {match.group(1)} }}}} is only known in a map task")
            if isinstance(ref, IndexRef):
                return str(item.index)
            return text_of(item_value(item, ref.key))
        if isinstance(ref, ParamRef):
            if ref.name not in params:
                raise TemplateError(f'parameter "{ref.name}" has no value')
            return params[ref.name]
        if isinstance(ref, OutputRef):
            outputs = inputs.get(ref.task)
            if outputs is None:
                raise TemplateError(f'outputs of task "{ref.task}" are not available')
            if ref.key not in outputs:
                raise TemplateError(f'task "{ref.task}" has no output "{ref.key}"')
            return text_of(outputs[ref.key])
        raise TemplateError(f'unknown reference "{{{{ {ref.expression} }}}}"')

    return _REFERENCE.sub(replace, text)
