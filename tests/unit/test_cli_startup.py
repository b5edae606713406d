"""Every soakgate command pays for what the CLI imports at start: the plotting and numeric
libraries (over half a second on 2 cores) are imported only by the commands that draw."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("matplotlib", "numpy", "scipy", "testinfra", "pytest", "pulumi")


def test_the_cli_starts_without_plotting_or_numeric_libraries() -> None:
    probe = (
        "import json, sys\n"
        "import soakgate.cli.main\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "soakgate" in loaded  # the probe imported the CLI indeed
    assert sorted(loaded.intersection(HEAVY)) == []
