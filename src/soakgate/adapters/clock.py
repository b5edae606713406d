"""When this command started: the process's start time, read from /proc, so a measured
duration includes the interpreter's start and every import, as the user experiences it."""

from __future__ import annotations

import os
import time


def process_started_at(pid: int | None = None) -> float:
    """The epoch time (seconds, ~10 ms resolution) at which process ``pid`` (default: this one)
    started: now minus (uptime now - the process's start in uptime ticks)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat") as handle:
            stat = handle.read()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
    except OSError:
        return time.time()
    ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
