"""A stage's SSH connections opened in the background: the emergency rollback's fast path
starts them before it imports the rest of soakgate, so that waiting on the hosts (the SSH
handshake, the engine check, the first API channel) overlaps that work instead of following it.

    warm_up(stack_hosts(root, "production"))   # at once; a failure is met by the real calls
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from soakgate.adapters.ssh.connection import connections
from soakgate.core.hosts import Host


def warm_up(hosts: Sequence[Host]) -> list[threading.Thread]:
    """Start connecting to each of ``hosts`` through the process's connections; the threads
    started. They are daemons: a host that hangs never holds the process."""
    pool = connections()
    threads = [
        threading.Thread(target=pool.get(host).warm, name=f"warm-{host.name}", daemon=True)
        for host in hosts
    ]
    for thread in threads:
        thread.start()
    return threads
