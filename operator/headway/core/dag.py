"""The task graph: validation (duplicates, unknown dependencies, cycles) and traversal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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

    def is_ancestor(self, candidate: str, name: str) -> bool:
        """Whether ``candidate`` is upstream of ``name``: direct parents first, then a
        search that stops as soon as it finds it."""
        if candidate in self.parents[name]:
            return True
        seen: set[str] = set()
        stack = list(self.parents[name])
        while stack:
            node = stack.pop()
            if node == candidate:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(self.parents[node])
        return False

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
    """A cycle as a path ``[a, b, ..., a]`` (following dependencies), or None.

    Iterative depth-first search: a chain of thousands of tasks must not hit
    Python's recursion limit."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in names:
        if root in state:
            continue
        path: list[str] = [root]
        pending: list[Iterator[str]] = [iter(parents[root])]
        state[root] = 1
        while pending:
            parent = next(pending[-1], None)
            if parent is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(parent) == 1:
                return [*path[path.index(parent) :], parent]
            elif parent not in state:
                state[parent] = 1
                path.append(parent)
                pending.append(iter(parents[parent]))
    return None


def build(tasks: Sequence[tuple[str, Sequence[str]]]) -> Dag:
    """Build the DAG from ``(name, dependencies)`` pairs, in declaration order."""
    problems: list[str] = []
    names: list[str] = []
    known: set[str] = set()
    for name, _ in tasks:
        if name in known:
            problems.append(f'duplicate task name "{name}"')
        else:
            names.append(name)
            known.add(name)
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
    return Dag(
        _topological(names, parents, children), parents, {k: tuple(v) for k, v in children.items()}
    )


def _topological(
    names: Sequence[str], parents: Mapping[str, tuple[str, ...]], children: Mapping[str, list[str]]
) -> tuple[str, ...]:
    """The order of repeated sweeps over the declaration, each placing every task whose
    dependencies are placed (earlier in the same sweep counts): stable and readable.

    Computed without sweeping (O(n log n + edges)): a task's sweep is the latest of its
    parents' sweeps, one later for a parent declared after it."""
    position = {name: index for index, name in enumerate(names)}
    waiting = {name: len(parents[name]) for name in names}
    sweep = dict.fromkeys(names, 0)
    ready = [n for n in names if waiting[n] == 0]
    while ready:  # Kahn: every parent's sweep is final before its children's
        name = ready.pop()
        for child in children[name]:
            later = 1 if position[name] > position[child] else 0
            sweep[child] = max(sweep[child], sweep[name] + later)
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return tuple(sorted(names, key=lambda n: (sweep[n], position[n])))
