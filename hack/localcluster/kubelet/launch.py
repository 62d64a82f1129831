"""Start one container process in a private mount namespace.

Run as ``python3 launch.py SPEC_JSON``. The spec holds ``argv``, ``env``,
``workingDir``, ``mounts`` (``source``, ``target``, ``readOnly``) and
``startErrorFile``. Each container gets its own mount namespace so that its
volumes and its termination-message file appear at the paths the pod spec
names, privately, while the rest of the host file system stays visible (the
"image" is the host). Then the launcher ``exec``s the command, so the
container's pid is this process's pid.

Standard library only: it runs before anything else in the new process.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
START_ERROR_EXIT_CODE = 128

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None, target.encode(), None, ctypes.c_ulong(flags), None
        ),
        f"mount {source} on {target}",
    )


def _prepare_target(is_dir: bool, target: str) -> None:
    """Create the mount point, matching the source's kind (file or directory)."""
    path = Path(target)
    if is_dir:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    # Everything on the host is opened before the first mount: a mount (an emptyDir on
    # /tmp, say) may hide the paths of the sources that follow, and of the error file.
    error_dir = os.open(str(Path(spec["startErrorFile"]).parent), os.O_RDONLY | os.O_DIRECTORY)
    try:
        _check(_libc.unshare(CLONE_NEWNS), "unshare mount namespace")
        # Keep our mounts from propagating back to the host's namespace.
        _mount(None, "/", MS_REC | MS_PRIVATE)
        # Opened in the new namespace (a bind mount's source must be in the caller's).
        sources = [
            (os.open(m["source"], os.O_PATH), os.path.isdir(m["source"])) for m in spec["mounts"]
        ]
        for m, (fd, is_dir) in zip(spec["mounts"], sources, strict=True):
            _prepare_target(is_dir, m["target"])
            _mount(f"/proc/self/fd/{fd}", m["target"], MS_BIND | MS_REC)
            if m.get("readOnly"):
                _mount(None, m["target"], MS_BIND | MS_REMOUNT | MS_RDONLY)
            os.close(fd)
        working_dir = spec.get("workingDir") or "/"
        os.makedirs(working_dir, exist_ok=True)
        os.chdir(working_dir)
        argv = spec["argv"]
        if not argv:
            raise ValueError("no command: the local kubelet runs no image entrypoints, set command")
        os.execvpe(argv[0], argv, spec["env"])
    except (OSError, ValueError) as error:
        # The kubelet reports this as a StartError, like a container runtime would.
        name = Path(spec["startErrorFile"]).name
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=error_dir)
        os.write(fd, f"failed to start container: {error}".encode())
        print(f"failed to start container: {error}", file=sys.stderr)
        sys.exit(START_ERROR_EXIT_CODE)


if __name__ == "__main__":
    main(sys.argv[1])
