"""What every bench prints first: the machine's load before it started, so a reader can tell a quiet run
from a busy one (the numbers of a run on a loaded 2-core machine are not comparable with a quiet one's)."""

from __future__ import annotations

import os
import platform


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
            f"load average before the bench {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)")


def print_machine() -> None:
    print(f"\n{machine_line()}", flush=True)
