"""Headway's words are said once (``core.vocabulary``): the console page's copy is
generated from them, and this test fails when the copy in the repository drifts."""

from __future__ import annotations

from pathlib import Path

from headway.core import vocabulary
from headway.models.crd import KINDS, PLURALS

PAGE_COPY = Path(__file__).resolve().parents[2] / "console" / "src" / "vocabulary.ts"
PAGE = Path(__file__).resolve().parents[2] / "console" / "src" / "main.ts"


def test_the_pages_copy_of_the_vocabulary_is_the_generated_one() -> None:
    assert PAGE_COPY.read_text() == vocabulary.typescript(), (
        "console/src/vocabulary.ts drifted: run `make console`"
    )


def test_the_page_retypes_no_seed_text_and_no_phase_set() -> None:
    page = PAGE.read_text()
    for text in (vocabulary.STEP_WARNING, vocabulary.FLOW_WARNING, vocabulary.RECOVER_WARNING,
                 vocabulary.OUTPUTS_WARNING):  # fmt: skip
        assert text[:40] not in page
    assert '"Succeeded", "Failed", "Rejected"' not in page


def test_the_sets_are_made_of_known_phases() -> None:
    assert set(vocabulary.REQUEST_PHASES) >= vocabulary.REQUEST_FINISHED
    assert set(vocabulary.EXECUTION_PHASES) >= vocabulary.EXECUTION_FINISHED
    assert set(vocabulary.TASK_PHASES) >= vocabulary.TASK_ACTIVE | vocabulary.TASK_STUCK
    assert {k.kind: k.plural for k in KINDS} == PLURALS
