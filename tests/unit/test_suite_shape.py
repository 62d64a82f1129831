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


OPERATOR = Path(__file__).resolve().parents[2] / "operator" / "headway"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def test_the_code_map_in_the_docs_names_every_module() -> None:
    text = DOCS.read_text()
    start = text.index("```\noperator/headway/")
    code_map = text[start : text.index("```\n", start + 4)]
    blocks: dict[str, str] = {}
    current = ""
    for line in code_map.splitlines():
        head = line[:13].strip()
        if head.endswith("/"):
            current = head.rstrip("/")
        blocks[current] = blocks.get(current, "") + line[13:] + " "
    for package in ("models", "core", "shell", "runtime", "handlers", "cli", "console"):
        modules = sorted(p.stem for p in (OPERATOR / package).glob("*.py") if p.stem != "__init__")
        missing = [m for m in modules if m not in blocks.get(package, "")]
        assert missing == [], f"{package}/ in docs/operator.md lacks {missing}"
