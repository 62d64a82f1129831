"""Deterministic names: Jobs, label values, idempotency keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_NAME = 63  # Job names become pod label values, which are at most 63 characters
HASH_LENGTH = 8


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def shorten(name: str, limit: int = MAX_NAME) -> str:
    """``name`` if it fits, else a prefix and a stable hash of the whole name."""
    if len(name) <= limit:
        return name
    prefix = name[: limit - HASH_LENGTH - 1].rstrip("-.")
    return f"{prefix}-{_digest(name)[:HASH_LENGTH]}"


def job_name(execution: str, task: str, attempt: int) -> str:
    return shorten(f"{execution}-{task}-{attempt}")


def label_value(value: str) -> str:
    return shorten(value)


def idempotency_key(
    execution_uid: str, task: str, params: Mapping[str, str], inputs: Mapping[str, Any]
) -> str:
    """Stable for the same logical call: same Execution, task and resolved inputs."""
    canonical = json.dumps(
        {"execution": execution_uid, "task": task, "params": params, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
    )
    return _digest(canonical)[:32]
