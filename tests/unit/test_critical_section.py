"""The proxy switch's two steps are not cut apart by a signal: real processes, real signals.

Each child enters ``uninterruptible()``, writes "first", says it is inside, waits, writes
"second". It is signalled (or its parent is SIGKILLed) while inside: both steps must be in the
file (nothing lost) and the process must end at once after them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SECTION = """
import signal, sys, time, threading
# Python's own SIGINT handler, also when this test runs under a shell that started it in the
# background without job control (SIGINT ignored then, and inherited as ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from soakgate.adapters.critical_section import uninterruptible, exit_when_safe

out = Path(sys.argv[1])

def work():
    with uninterruptible():
        out.write_text("first\\n")
        print("inside", flush=True)
        time.sleep(0.5)
        with out.open("a") as f:
            f.write("second\\n")
"""


def start(body: str, out: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(SECTION) + textwrap.dedent(body)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )


def wait_inside(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "inside"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_main_thread_waits_for_the_section(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "steps"
    process = start("work()\nprint('after', flush=True)\n", out)
    wait_inside(process)
    process.send_signal(signum)
    rc = process.wait(timeout=20)
    assert out.read_text() == "first\nsecond\n", "the signal cut the section in half"
    assert rc == -signum, f"the held signal was not delivered after the section (rc {rc})"
    assert process.stdout is not None and "after" not in process.stdout.read()


def test_exit_when_safe_from_another_thread_waits_for_a_worker_section(tmp_path: Path) -> None:
    """As in the provider plugin: the section runs in a gRPC worker thread, the exit request
    comes from the main thread's signal handler."""
    out = tmp_path / "steps"
    body = """
    import signal
    signal.signal(signal.SIGTERM, lambda *_: exit_when_safe(3))
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    time.sleep(5)
    print("not exited", flush=True)
    """
    process = start(body, out)
    wait_inside(process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 3, "the process did not exit when the section ended"
    assert out.read_text() == "first\nsecond\n"
    assert process.stdout is not None and "not exited" not in process.stdout.read()


def test_exit_when_safe_outside_a_section_exits_at_once(tmp_path: Path) -> None:
    body = "exit_when_safe(4)\nprint('not exited', flush=True)\n"
    process = start(body, tmp_path / "unused")
    assert process.wait(timeout=20) == 4
    assert process.stdout is not None and process.stdout.read() == ""


def test_a_plugin_whose_parent_is_killed_finishes_the_section_then_exits(tmp_path: Path) -> None:
    """The after-switch kill point: the Pulumi CLI (here a shell) is SIGKILLed while its
    provider is between the upstream write and the proxy reload."""
    out = tmp_path / "steps"
    plugin = textwrap.dedent(SECTION) + textwrap.dedent(
        """
        import signal
        from soakgate.pulumi.orphan import exit_with_parent
        signal.signal(signal.SIGTERM, lambda *_: exit_when_safe(0))
        exit_with_parent()
        threading.Thread(target=work).start()
        time.sleep(30)
        """
    )
    pid_file = tmp_path / "plugin.pid"
    parent = subprocess.Popen(
        [
            "sh",
            "-c",
            'python=$1; shift; "$python" "$@" & echo $! > "$PIDFILE"; wait',
            "sh",
            sys.executable,
            "-c",
            plugin,
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIDFILE": str(pid_file)},
    )
    wait_inside(parent)
    plugin_pid = int(pid_file.read_text())
    parent.kill()
    parent.wait(timeout=20)
    for _ in range(200):
        if not Path(f"/proc/{plugin_pid}").exists() or _zombie(plugin_pid):
            break
        time.sleep(0.1)
    assert out.read_text() == "first\nsecond\n", "the dying parent cut the section in half"
    assert not Path(f"/proc/{plugin_pid}").exists() or _zombie(plugin_pid), "plugin outlived it"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")
    except OSError:
        return True
