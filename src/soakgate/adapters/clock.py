"""Clocks. When this command started: the process's start time, read from /proc, so a
measured duration includes the interpreter's start and every import, as the user experiences
it. And the accelerated clock of a demo soak: a simulated week in a minute, ending now."""

from __future__ import annotations

import os
import threading
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


class AcceleratedClock:
    """A clock running ``factor`` times faster than the wall clock over ``span`` simulated
    seconds that end when the wall clock has moved ``span / factor`` on: its times start
    ``span`` before the wall clock's now, so nothing it stamps lies in the future.

        clock = AcceleratedClock(10080, 7 * 86400)   # a week in a minute
        clock()            # a time a week ago, moving 10080 s each second
        clock.sleep(600)   # ten simulated minutes: about 60 ms
    """

    def __init__(self, factor: float, span: float, stop: threading.Event | None = None) -> None:
        if not factor >= 1:
            raise ValueError(f"an accelerated clock needs a factor of 1 or more, got {factor}")
        self.factor = factor
        self.origin = time.time()
        self.start = self.origin - span
        self.stop = stop or threading.Event()

    def __call__(self) -> float:
        return self.start + (time.time() - self.origin) * self.factor

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` of this clock (or until ``stop`` is set: then True)."""
        return self.stop.wait(max(0.0, seconds) / self.factor)
