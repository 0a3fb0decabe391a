"""The machine a benchmark ran on, and how fast it was running at the time.

This development machine is virtual and shares its host: the same benchmark has taken
twice as long at one hour as at another, with nothing changed in the code. Each benchmark
therefore times a fixed reference workload before and after its cases, so that a figure
can be read against the speed the machine had while it was taken.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REFERENCE_LOOP = 10_000_000


def machine() -> str:
    """Cores, memory, CPU model and Python version."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.1f} GiB RAM, {model}, Python {sys.version.split()[0]}"


def reference_seconds() -> tuple[float, float]:
    """Seconds for two fixed single-threaded workloads: a Python loop (10 M integer
    additions: interpreter speed) and a random gather over 160 MB of int64 (memory
    latency, which the solvers and the scoring depend on). Lower is faster; on this
    machine the second has varied by about 2× while the first barely moved."""
    import numpy as np

    started = time.perf_counter()
    total = 0
    for value in range(REFERENCE_LOOP):
        total += value
    loop = time.perf_counter() - started
    started = time.perf_counter()
    n = 20_000_000
    values = np.arange(n, dtype=np.int64)
    order = (values * 2_654_435_761) % n
    int(values[order].sum())
    return loop, time.perf_counter() - started


def speed_line(when: str) -> str:
    """One line for a benchmark's output: the reference workloads' times now.

    They run in a process of their own: on Linux a child started later would otherwise
    report this process's peak memory (about 480 MB from the gather) as its own.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.host"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    loop, gather = json.loads(done.stdout)
    return (
        f"host speed {when}: Python loop {loop:.2f} s, memory gather {gather:.2f} s "
        "(lower is faster)"
    )


if __name__ == "__main__":
    print(json.dumps(reference_seconds()))
