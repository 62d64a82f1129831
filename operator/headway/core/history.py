"""The progress path (``status.history``): bounded, newest last, audit entries kept first.

Task events are many and cheap to lose; recoveries are the audit trail. When the
history is full, the oldest *task* events go first, so no number of task events
ever pushes a recovery out; recoveries have a bound of their own.
"""

from __future__ import annotations

from headway.models.execution import HistoryEntry

LIMIT = 200  # entries in all
MESSAGE_LIMIT = 256  # a task's message in status; the rest goes to Events and logs
AUDIT_LIMIT = 100  # of which recoveries, at most
AUDIT_EVENTS = frozenset({"Retriggered", "StepRetriggered", "OutputsProvided", "RecoveryRejected"})


def is_audit(entry: HistoryEntry) -> bool:
    return entry.event in AUDIT_EVENTS


def append(history: list[HistoryEntry], *entries: HistoryEntry) -> None:
    """Add ``entries`` in place, then trim to the bounds."""
    history.extend(entries)
    if len(history) <= LIMIT:
        return
    audits = sum(1 for e in history if is_audit(e))
    drop_audits = max(0, audits - AUDIT_LIMIT)
    drop_tasks = max(0, len(history) - LIMIT - drop_audits)
    kept: list[HistoryEntry] = []
    for entry in history:  # oldest first
        if is_audit(entry) and drop_audits:
            drop_audits -= 1
        elif not is_audit(entry) and drop_tasks:
            drop_tasks -= 1
        else:
            kept.append(entry)
    history[:] = kept


def clip(message: str, limit: int = MESSAGE_LIMIT) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"
