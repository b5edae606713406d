"""The spawned monitor's own entry point (``python -m soakgate.cli.soak``) answers a usage
error as the main CLI does: the message and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_usage_error_of_the_monitor_entry_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "soakgate.cli.soak", "run", "staging", "--bogus"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "No such option: --bogus" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
