"""The task graph: validation (duplicates, unknown dependencies, cycles) and traversal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


class DagError(ValueError):
    """The graph is not a DAG; ``problems`` names each defect."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Dag:
    order: tuple[str, ...]  # topological: every task after all of its dependencies
    parents: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]

    def ancestors(self, name: str) -> set[str]:
        return _reach(name, self.parents)

    def descendants(self, name: str) -> set[str]:
        return _reach(name, self.children)

    def closure(self, names: Iterable[str]) -> set[str]:
        """The given tasks and everything downstream of them."""
        result: set[str] = set()
        for name in names:
            result |= {name} | self.descendants(name)
        return result


def _reach(start: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges[node])
    return seen


def _find_cycle(names: Sequence[str], parents: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle as a path ``[a, b, ..., a]`` (following dependencies), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for parent in parents[node]:
            if state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            if parent not in state:
                found = visit(parent)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for name in names:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def build(tasks: Sequence[tuple[str, Sequence[str]]]) -> Dag:
    """Build the DAG from ``(name, dependencies)`` pairs, in declaration order."""
    problems: list[str] = []
    names: list[str] = []
    for name, _ in tasks:
        if name in names:
            problems.append(f'duplicate task name "{name}"')
        else:
            names.append(name)
    known = set(names)
    parents: dict[str, tuple[str, ...]] = {}
    for name, dependencies in tasks:
        unknown = [d for d in dependencies if d not in known]
        problems += [f'task "{name}" depends on unknown task "{d}"' for d in unknown]
        parents.setdefault(name, tuple(dict.fromkeys(d for d in dependencies if d in known)))
    if problems:
        raise DagError(problems)
    cycle = _find_cycle(names, parents)
    if cycle:
        # Shown in the direction work flows: a -> b means b runs after a.
        raise DagError([f"dependency cycle: {' -> '.join(reversed(cycle))}"])
    children: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for parent in parents[name]:
            children[parent].append(name)
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(names):  # stable Kahn: declaration order among ready tasks
        for name in names:
            if name not in placed and all(p in placed for p in parents[name]):
                order.append(name)
                placed.add(name)
    return Dag(tuple(order), parents, {k: tuple(v) for k, v in children.items()})
