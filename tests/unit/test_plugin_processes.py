"""soakgate's two Pulumi plugins as the CLI runs them: started, port on the first stdout line
(with nothing else buffered in between), stopped with SIGINT, gone at once with exit code 0."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# each as the CLI starts it: the language host gets the engine's address as its argument
PLUGINS = [("pulumi-language-python", ["127.0.0.1:1"]), ("pulumi-resource-pulumi-python", [])]


@pytest.mark.parametrize(("plugin", "args"), PLUGINS)
def test_plugin_serves_its_port_and_exits_on_sigint(plugin: str, args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as the CLI may
    process = subprocess.Popen(
        [str(BIN / plugin), *args],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,  # the CLI gives each plugin its own process group
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, f"{plugin} wrote no port within 20 s (stdout left buffered?)"
        port = int(process.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=20):
            pass  # the gRPC server listens there
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=20) == 0  # at once when idle; 20 s bound for a loaded box
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(("plugin", "args"), PLUGINS)
def test_a_sigint_handed_to_another_thread_still_ends_the_plugin(
    plugin: str, args: list[str]
) -> None:
    """The kernel may hand a process's SIGINT to any thread (here: to a gRPC thread, on
    purpose). Python runs handlers in the main thread only: it must still wake and exit."""
    process = subprocess.Popen(
        [str(BIN / plugin), *args], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, f"{plugin} wrote no port within 20 s"
        int(process.stdout.readline())
        others = sorted(
            int(tid) for tid in os.listdir(f"/proc/{process.pid}/task") if int(tid) != process.pid
        )
        assert others, "the plugin runs no thread besides its main one"
        os.kill(others[-1], signal.SIGINT)  # a thread's own id: that thread is tried first
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
