"""The pulumi wrapper: what it starts dies with the process that started it (SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soakgate.adapters.process import process_alive
from soakgate.adapters.stage.pulumi_stacks import bound_wrapper

PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.argv[1], "60"])
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_the_wrapped_command_dies_with_its_parent(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    script = tmp_path / "pulumi"
    script.write_text(bound_wrapper(Path(shutil.which("sleep") or "/bin/sleep"), setpriv))
    script.chmod(0o755)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(script)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 5  # sh, then setpriv (which sets the signal), then sleep
    while Path(f"/proc/{child}/comm").read_text().strip() != "sleep":
        assert time.monotonic() < deadline, "the wrapper never ran its command"
        time.sleep(0.01)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_alive(child), "the wrapped command outlived the command that ran it"


def test_the_wrapper_quotes_its_paths() -> None:
    text = bound_wrapper(Path("/opt/my tools/pulumi"), "/usr/bin/setpriv")
    assert text.splitlines()[1] == (
        "exec /usr/bin/setpriv --pdeathsig KILL -- '/opt/my tools/pulumi' \"$@\""
    )
