"""Container processes: start one through the launcher, watch it, stop it.

Each container is a process group of its own (its own session), so stopping
a container signals everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.kubelet import launch

JSON = dict[str, Any]
# What a kubelet keeps of a termination message: the last 4096 bytes of the file.
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80
LAUNCHER = Path(launch.__file__)


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass
class Process:
    """One run of a container."""

    container_id: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    termination_path: Path
    start_error_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """The exit code once the process ended (128+N when killed by signal N), else None."""
        code = self.popen.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM the group, then SIGKILL it after the grace period."""
        if self.exit_code() is None:
            self.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while self.exit_code() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        # Kill what is left of the group even when the leader has exited.
        self.signal(signal.SIGKILL)
        self.popen.wait()

    def start_error(self) -> str | None:
        try:
            return self.start_error_path.read_text() or None
        except FileNotFoundError:
            return None

    def termination_message(self, policy: str, failed: bool) -> str:
        """The container's message as a kubelet reads it: the last 4096 bytes of the
        termination-message file; with ``FallbackToLogsOnError``, the log tail on failure."""
        message = _read_tail(self.termination_path, MAX_TERMINATION_MESSAGE)
        if not message and failed and policy == "FallbackToLogsOnError":
            lines = _read_tail(self.log_path, MAX_TERMINATION_MESSAGE).splitlines()
            message = "\n".join(lines[-FALLBACK_LOG_LINES:])
        return message


def _read_tail(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def start(
    container_id: str,
    run_dir: Path,
    argv: list[str],
    env: dict[str, str],
    working_dir: str | None,
    mounts: list[Mount],
    termination_message_path: str,
) -> Process:
    """Start a container process; its output goes to ``run_dir/log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    termination = run_dir / "termination-log"
    termination.write_bytes(b"")
    termination.chmod(0o666)
    start_error = run_dir / "start-error"
    start_error.unlink(missing_ok=True)
    all_mounts = [*mounts, Mount(str(termination), termination_message_path)]
    spec = {
        "argv": argv,
        "env": env,
        "workingDir": working_dir,
        "mounts": [
            {"source": m.source, "target": m.target, "readOnly": m.read_only} for m in all_mounts
        ],
        "startErrorFile": str(start_error),
    }
    log_path = run_dir / "log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, str(LAUNCHER), json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    return Process(container_id, popen, log_path, termination, start_error)
