"""The shape of the test suite itself: every end-to-end module says that it is one, so
``-m e2e`` (and ``-m "not e2e"``) select what they claim."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"


def _marks(path: Path) -> list[str]:
    marks = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            marks.append(ast.unparse(node.value))
    return marks


@pytest.mark.parametrize("module", sorted(p.name for p in E2E.glob("test_*.py")))
def test_every_end_to_end_module_is_marked_e2e(module: str) -> None:
    assert _marks(E2E / module) == ["pytest.mark.e2e"]
