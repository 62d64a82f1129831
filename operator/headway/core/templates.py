"""``{{ params.NAME }}`` and ``{{ tasks.TASK.outputs.KEY }}`` references: find and substitute.

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
class BadRef:
    expression: str


Reference = ParamRef | OutputRef | BadRef


def _parse(expression: str) -> Reference:
    if match := _PARAM.fullmatch(expression):
        return ParamRef(match.group(1))
    if match := _OUTPUT.fullmatch(expression):
        return OutputRef(match.group(1), match.group(3))
    return BadRef(expression)


def references(text: str) -> list[Reference]:
    return [_parse(m.group(1)) for m in _REFERENCE.finditer(text)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def substitute(
    text: str, params: Mapping[str, str], inputs: Mapping[str, Mapping[str, Any]]
) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = _parse(match.group(1))
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
            return _text(outputs[ref.key])
        raise TemplateError(f'unknown reference "{{{{ {ref.expression} }}}}"')

    return _REFERENCE.sub(replace, text)
