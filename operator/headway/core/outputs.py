"""A task's outputs, from its container's termination message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT_BYTES = 4096


@dataclass(frozen=True)
class OutputsError:
    reason: str
    message: str


def provided_problem(outputs: Any) -> str | None:
    """What is wrong with outputs given by hand (ProvideOutputs), by the same measure
    wherever they are checked (the engine, the console, the CLI); None if nothing."""
    if not isinstance(outputs, dict):
        return "outputs must be a JSON object"
    size = len(json.dumps(outputs).encode())
    if size > MAX_OUTPUT_BYTES:
        return f"outputs are {size} bytes, more than {MAX_OUTPUT_BYTES}"
    return None


def parse(message: str | None) -> dict[str, Any] | OutputsError:
    """One JSON object of at most 4096 bytes; no message means ``{}``."""
    if not message or not message.strip():
        return {}
    size = len(message.encode())
    try:
        value = json.loads(message)
    except ValueError as error:
        if size >= MAX_OUTPUT_BYTES:
            # The kubelet keeps only the last 4096 bytes of the file, so a larger
            # output arrives cut and unparseable.
            return OutputsError(
                "OutputsTooLarge", f"outputs exceed {MAX_OUTPUT_BYTES} bytes (the limit)"
            )
        return OutputsError("OutputsNotJSON", f"outputs are not valid JSON: {error}")
    if size > MAX_OUTPUT_BYTES:
        return OutputsError(
            "OutputsTooLarge", f"outputs are {size} bytes, more than {MAX_OUTPUT_BYTES}"
        )
    if not isinstance(value, dict):
        return OutputsError(
            "OutputsNotObject", f"outputs must be a JSON object, not {type(value).__name__}"
        )
    return value
