"""Plugins that never outlive the Pulumi CLI that started them.

    exit_with_parent()    # in a plugin's main(): when the CLI dies (SIGKILL, SIGPIPE…), so do we

The CLI ends its plugins with SIGINT when it is done; a CLI that is killed (or whose own parent
is, so that it dies writing to a closed pipe) never does, and the plugin would keep running,
holding its port and, in a provider, a stage's lock. A daemon thread watches the parent: once
the process is re-parented (the CLI is gone), it leaves at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time

POLL = 0.5


def exit_with_parent(poll: float = POLL) -> threading.Thread:
    """Start the watcher; returns its (daemon) thread."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        sys.stderr.flush()
        os._exit(0)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
