"""The operator's kopf handlers, read from the source (kopf keeps its registry private):
each function under ``headway/handlers`` decorated with ``kopf.*``, whether it is a
coroutine, what decorates it, and the ``id`` it is registered under."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[1] / "operator" / "headway" / "handlers"


@dataclass(frozen=True)
class Handler:
    module: str
    name: str
    is_async: bool
    decorator: str  # e.g. "kopf.on.mutate"
    id: str | None  # the id= given, if any


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def kopf_handlers() -> list[Handler]:
    found = []
    for path in sorted(HANDLERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                name = _dotted(call.func if call else decorator)
                if not name.startswith("kopf."):
                    continue
                ids = [k.value for k in (call.keywords if call else []) if k.arg == "id"]
                given = str(ids[0].value) if ids and isinstance(ids[0], ast.Constant) else None
                is_async = isinstance(node, ast.AsyncFunctionDef)
                found.append(Handler(path.stem, node.name, is_async, name, given))
    return found
