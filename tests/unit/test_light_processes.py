"""The process reading behind a switch's wait for nginx's old workers: children of a PID and
the title a process shows, read from /proc on real processes."""

from __future__ import annotations

import os
import subprocess
import sys

from soakgate.adapters.docker.light import LightDocker, _children, _title


def test_children_and_titles_of_real_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in _children(os.getpid())
        assert _title(child.pid) == f"{sys.executable} -c import time; time.sleep(30)"
        assert child.pid not in _children(child.pid)
    finally:
        child.kill()
        child.wait()
    assert _title(child.pid) == ""  # gone: nothing to read


def test_a_remote_engine_cannot_show_its_workers() -> None:
    assert LightDocker("tcp://127.0.0.1:9").accepting_workers("proxy") is None
