"""soakgate's ``pulumi-resource-pulumi-python``: the SDK's dynamic-provider server, started
straight from the project's venv, that exits at once when the CLI is done with it.

The Pulumi CLI starts this plugin for every operation (twice in a ``pulumi up``: preview and
update) and ends it with SIGINT once the engine has its last answer, then waits for the process
to exit. The SDK's own script goes through ``sh``, and on SIGINT through a gRPC stop and a full
interpreter shutdown with the SDK, Docker SDK and dill loaded: ~0.1 s per operation spent on
nothing. The server itself is the SDK's (``python -m pulumi.dynamic``), unchanged; a dynamic
provider keeps no state between calls (each response carries the resource's state back to the
engine), so exiting on the spot loses nothing.
"""

from __future__ import annotations

import io
import runpy
import signal
import sys
import threading
from types import FrameType

from soakgate.adapters.critical_section import exit_when_safe
from soakgate.pulumi.orphan import exit_with_parent
from soakgate.pulumi.stop_signals import wait_until


def exit_now(signum: int, frame: FrameType | None) -> None:
    """Leave without the interpreter's shutdown, once no proxy switch is half done."""
    exit_when_safe(0)


def unbuffered(fd: int) -> io.TextIOWrapper:
    """A text stream on ``fd`` with no buffer, as ``python -u`` gives (the SDK's script runs
    with ``-u``; the server writes its port to ``sys.stdout.buffer`` and never flushes)."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True)


def main() -> None:
    """Entry point of the ``pulumi-resource-pulumi-python`` console script."""
    sys.stdout = unbuffered(1)
    sys.stderr = unbuffered(2)
    signal.signal(signal.SIGINT, exit_now)
    signal.signal(signal.SIGTERM, exit_now)
    exit_with_parent()
    # The SDK's server, whose module ends in a lock wait, runs in a thread of its own; the main
    # thread stays where a signal handler runs promptly (see soakgate.pulumi.stop_signals).
    threading.Thread(
        target=runpy.run_module,
        args=("pulumi.dynamic",),
        kwargs={"run_name": "__main__", "alter_sys": True},
        name="dynamic-provider",
        daemon=True,
    ).start()
    wait_until(threading.Event())  # ended by exit_now


if __name__ == "__main__":
    main()
