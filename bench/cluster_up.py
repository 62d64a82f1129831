"""Benchmark: time from ``up`` to every node Ready, with the binaries cached.

Stops a running local cluster first (its state is kept), so the number is a
warm restart of all components. Target: under 60 s. Run: ``make bench-cluster``.
"""

from __future__ import annotations

import statistics
import sys
import time

from localcluster import cluster
from localcluster.layout import Layout

TARGET_SECONDS = 60.0


def main(rounds: int = 3) -> int:
    layout = Layout.default()
    cluster.binaries()  # build outside the timing
    times = []
    for _ in range(rounds):
        cluster.down(layout)
        started = time.monotonic()
        cluster.up(layout)
        times.append(time.monotonic() - started)
    print(
        f"cluster-up (warm cache) to nodes Ready: {', '.join(f'{t:.1f}s' for t in times)}; "
        f"median {statistics.median(times):.1f}s (target < {TARGET_SECONDS:.0f}s)"
    )
    return 0 if max(times) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
