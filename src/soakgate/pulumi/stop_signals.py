"""The main thread of a plugin, waiting so that SIGINT and SIGTERM are always handled.

    wait_until(stopped)      # in main(): returns once ``stopped`` is set

A process-directed signal goes to any thread that does not block it, and Python runs its
handlers only in the main thread, once that thread runs bytecode again. A SIGINT the kernel
hands to one of gRPC's threads left the main thread asleep in a lock wait for good: seen once
in CI, the provider did not exit within 20 s of the CLI's SIGINT. So the main thread never
sleeps longer than :data:`POLL`: such a signal is handled within that time, one that reaches
the main thread at once. (Blocking the signals in every thread and taking them with
``sigwait`` would also do, but the blocked mask is inherited by every child process, such as
the Pulumi program the language host starts.)
"""

from __future__ import annotations

import threading

POLL = 0.2  # seconds


def wait_until(stopped: threading.Event, poll: float = POLL) -> None:
    """Block the calling (main) thread until ``stopped`` is set, waking every ``poll`` s."""
    while not stopped.wait(poll):
        pass
