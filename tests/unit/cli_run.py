"""The ``soakgate`` command run in-process, as a user would type it (no ``.soakgate/env`` read)."""

from __future__ import annotations

import pytest


def run_soakgate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``soakgate ARGV...``."""
    from soakgate.cli import main as cli_main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["soakgate", *argv])
        patch.setattr(cli_main, "load_env", lambda project: False)
        with pytest.raises(SystemExit) as exited:
            cli_main.main()
    out = capsys.readouterr()
    return int(exited.value.code or 0), out.out, out.err
