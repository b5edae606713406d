"""Steps that must not be cut in half by a signal: the proxy's upstream file and its reload.

    with uninterruptible():      # a SIGINT/SIGTERM (or a plugin's parent dying) waits for it
        write_upstream(...)
        reload(proxy)

    exit_when_safe(0)            # in a signal handler or watcher: exit now, or when it ends

A process killed between writing the upstream and reloading the proxy leaves the file naming
one slot while nginx serves the other, and every status reads the file. SIGKILL cannot be
deferred; SIGINT and SIGTERM are (the Pulumi plugins are sent SIGTERM when their CLI dies, see
``soakgate.pulumi.orphan``), and the process exits as soon as the section is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

DEFERRED = (signal.SIGINT, signal.SIGTERM)

_lock = threading.Lock()
_depth = 0
_exit_code: int | None = None


def _leave_process(code: int) -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def exit_when_safe(code: int = 0) -> None:
    """Leave the process (no interpreter shutdown) now, or when the open section ends."""
    global _exit_code
    with _lock:
        if _depth:
            _exit_code = code
            return
    _leave_process(code)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Hold SIGINT/SIGTERM (main thread) and :func:`exit_when_safe` (any thread) until the block
    is done; then exit, or deliver the held signal, as if it had just arrived."""
    global _depth
    held: list[int] = []
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():

        def hold(signum: int, frame: FrameType | None) -> None:
            held.append(signum)

        for signum in DEFERRED:
            previous[signum] = signal.signal(signum, hold)
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            leave = _exit_code if _depth == 0 else None
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        if leave is not None:
            _leave_process(leave)
        for number in held[:1]:
            signal.raise_signal(number)
