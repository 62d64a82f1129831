"""The OutputPage resource: one page of a map's item outputs, kept outside its Execution
when they no longer fit in its status. Written by the operator only; the Execution owns
it (deleted with it) and its status holds the page's digest, so a page changed by anyone
else is refused, never read as outputs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from headway.models.base import Spec


class OutputPageSpec(Spec):
    execution: str = Field(min_length=1, description="The Execution these outputs belong to.")
    task: str = Field(min_length=1, description="The map task.")
    page: int = Field(ge=0, description="Items page * 100 to page * 100 + 99.")
    digest: str = Field(description="The digest the Execution's status records for the page.")
    outputs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Item index -> its outputs, for items with any."
    )
