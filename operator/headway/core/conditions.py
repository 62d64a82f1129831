"""``when`` conditions and ``trigger`` rules: whether a Pending task starts, is Skipped,
or waits.

``when`` is a CEL expression (the language of Kubernetes' validation rules), parsed and
evaluated by cel-python (``celpy``): nothing here parses or evaluates an expression
itself. Its variables are ``params`` (each a string) and ``tasks``: for every task the
condition may see, ``outputs`` (a map's: the list of its items' outputs) and ``phase``.
A task that did not succeed has empty outputs (``{}``): ``has(tasks.x.outputs.k)`` asks.

``trigger`` decides from the dependencies' phases (``gate``): AllSucceeded (the default)
starts when all succeeded and is Skipped when one was Skipped; AllDone starts when all
ended, whatever the outcome; AnyFailed starts as soon as one failed (or is blocked) and is
Skipped when all ended without; NoneFailed starts when all ended and none failed. A
failed dependency leaves AllSucceeded and NoneFailed tasks Pending: a recovery of it may
still let them run (the Execution ends Failed meanwhile).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError, CELParser
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError
from lark import Token, Tree

from headway.models.workflow import TriggerRule

ENDED = frozenset({"Succeeded", "Failed", "Blocked", "Skipped", "Stopped"})
FAILED = frozenset({"Failed", "Blocked"})
Verdict = Literal["wait", "start", "skip"]


class ConditionError(ValueError):
    """A ``when`` that cannot be parsed, or failed to evaluate; the message says why."""


@dataclass(frozen=True)
class Gate:
    """What a Pending task's trigger says now, and why when it skips."""

    verdict: Verdict
    message: str = ""


def gate(trigger: TriggerRule, phases: Mapping[str, str]) -> Gate:
    """``phases``: each dependency's phase."""
    if not phases:
        return Gate("start")
    ended = all(p in ENDED for p in phases.values())
    failed = sorted(n for n, p in phases.items() if p in FAILED)
    skipped = sorted(n for n, p in phases.items() if p == "Skipped")
    if trigger == "AllDone":
        return Gate("start" if ended else "wait")
    if trigger == "AnyFailed":
        if failed:
            return Gate("start")
        if ended:
            return Gate("skip", f"trigger AnyFailed: no dependency failed ({_names(phases)})")
        return Gate("wait")
    if failed or not ended:
        return Gate("wait")
    if trigger == "NoneFailed" or not skipped:
        return Gate("start")
    return Gate("skip", f"trigger AllSucceeded: {', '.join(skipped)} Skipped")


def _names(phases: Mapping[str, str]) -> str:
    return ", ".join(f"{n} {p}" for n, p in sorted(phases.items()))


# --- when -------------------------------------------------------------------------------------


MAX_DEPTH = 400  # of the parse tree (about 40 nested parentheses): evaluation recurses


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Tree[Token]:
    try:
        tree = CELParser().parse(text)
    except CELParseError as error:
        raise ConditionError(_syntax(text, error)) from None
    except RecursionError:
        raise ConditionError("the expression is nested too deeply") from None
    except Exception as error:  # the parser's own failures, said plainly
        raise ConditionError(f"cannot be parsed: {error}") from None
    if _depth(tree) > MAX_DEPTH:
        raise ConditionError("the expression is nested too deeply")
    return tree


def _syntax(text: str, error: CELParseError) -> str:
    """Where the parser stopped: line, column, and that line."""
    if not error.line:
        return "syntax error: the expression ends too soon"
    lines = text.splitlines() or [""]
    shown = lines[min(error.line, len(lines)) - 1].strip()
    shown = shown if len(shown) <= 120 else shown[:119] + "…"
    return f"syntax error at line {error.line}, column {error.column}: {shown}"


def _depth(tree: Tree[Token]) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(c, depth + 1) for c in node.children if isinstance(c, Tree)]
    return deepest


def references(text: str) -> tuple[set[str], set[str]]:
    """The task names (``tasks.X``, ``tasks["X"]``) and params (``params.P``) that
    ``text`` names; raises ConditionError when it does not parse."""
    tasks: set[str] = set()
    params: set[str] = set()
    for node in _parsed(text).iter_subtrees():
        if node.data not in ("member_dot", "member_index") or len(node.children) != 2:
            continue
        base, key = node.children
        root = _ident(base)
        name = _key(node.data, key)
        if root == "tasks" and name is not None:
            tasks.add(name)
        elif root == "params" and name is not None:
            params.add(name)
    return tasks, params


def _ident(node: Any) -> str | None:
    """The identifier ``node`` (a ``member``) is, if it is a bare one."""
    while isinstance(node, Tree) and node.data in ("member", "primary", "ident"):
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return str(node) if isinstance(node, Token) and node.type == "IDENT" else None


def _key(kind: str, key: Any) -> str | None:
    """``X`` of ``.X`` or of ``["X"]`` (a plain string literal; else not known here)."""
    if kind == "member_dot":
        return str(key) if isinstance(key, Token) else None
    literal = (
        [t for t in key.scan_values(lambda v: isinstance(v, Token))]
        if isinstance(key, Tree)
        else []
    )
    if len(literal) == 1 and literal[0].type == "STRING_LIT":
        value = str(literal[0])
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1]
    return None


def problems(text: str, visible: Iterable[str], params: Iterable[str] | None) -> list[str]:
    """What is wrong with a ``when`` at admission: it does not parse, or names a task
    it cannot see (not an ancestor) or a param the workflow does not declare."""
    try:
        tasks, named = references(text)
        _program(text)
    except ConditionError as error:
        return [str(error)]
    found = []
    hidden = sorted(tasks - set(visible))
    if hidden:
        found.append(
            f"names {', '.join(hidden)}, not among the tasks it runs after (a condition sees "
            "only its ancestors' outputs and phases)"
        )
    if params is not None:
        unknown = sorted(named - set(params))
        if unknown:
            found.append(f"names params {', '.join(unknown)}, which the workflow does not declare")
    return found


# One environment (making one raises the interpreter's recursion limit to CEL's needs).
ENVIRONMENT = celpy.Environment()


@functools.lru_cache(maxsize=256)
def _program(text: str) -> celpy.Runner:
    return ENVIRONMENT.program(_parsed(text))


def evaluate(text: str, params: Mapping[str, str], tasks: Mapping[str, Mapping[str, Any]]) -> bool:
    """The value of ``when`` over these variables; ConditionError when it cannot be
    evaluated (a missing key, a type mismatch) or is not a bool."""
    activation = {
        "params": json_to_cel(dict(params)),
        "tasks": json_to_cel(dict(tasks)),
    }
    try:
        value = _program(text).evaluate(activation)
    except ConditionError:
        raise
    except CELEvalError as error:
        raise ConditionError(_eval_message(error)) from None
    except Exception as error:  # celpy raises plain Python errors too
        raise ConditionError(f"{type(error).__name__}: {error}") from None
    if isinstance(value, CELEvalError):
        raise ConditionError(_eval_message(value))
    if not isinstance(value, BoolType):
        raise ConditionError(
            f"is a {type(value).__name__.removesuffix('Type').lower()}, not a bool"
        )
    return bool(value)


def _eval_message(error: CELEvalError) -> str:
    first = error.args[0] if error.args else error
    return str(first)
