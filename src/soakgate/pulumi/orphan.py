"""Plugins that never outlive the Pulumi CLI that started them.

    exit_with_parent()    # in a plugin's main(): when the CLI dies (SIGKILL, SIGPIPE…), so do we

The CLI ends its plugins with SIGINT when it is done; a CLI that is killed (or whose own parent
is, so that it dies writing to a closed pipe) never does, and the plugin would keep running,
holding its port and, in a provider, a stage's lock. The kernel sends the plugin SIGTERM the
moment its parent dies (``PR_SET_PDEATHSIG``); a daemon thread watching for re-parenting is the
fallback where that cannot be set. Either way the plugin exits through
:func:`~soakgate.adapters.critical_section.exit_when_safe`, so a provider never stops between
writing a proxy's upstream and reloading it (SIGKILL would).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

from soakgate.adapters.critical_section import exit_when_safe

POLL = 0.5
PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask the kernel for SIGTERM when the parent dies; False where it cannot be set."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    return False


def exit_with_parent(poll: float = POLL) -> threading.Thread:
    """Start the watcher; returns its (daemon) thread."""
    parent = os.getppid()
    die_with_parent()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        exit_when_safe(0)  # returns only while a section is open; its end exits

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
