"""CPU time of processes, read from Linux /proc: what the benchmarks charge to each part of a deployment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def cpu_seconds(select_process: Callable[[int, int], bool]) -> float:
    """User + system CPU seconds of the processes for which ``select_process(pid, pgid)`` holds (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if select_process(int(entry.name), int(fields[2])):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total
