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


def test_soakgate_ssh_imports_paramiko_without_invoke_and_fabric_gets_it_back() -> None:
    """paramiko imports invoke (~80 ms) only for ssh_config's ``Match exec``: soakgate's own
    SSH connections go without it; Fabric, imported later in the same process, has it, and so
    has paramiko's ssh_config again."""
    probe = (
        "import json, sys\n"
        "from soakgate.adapters.ssh.connection import _paramiko\n"
        "paramiko = _paramiko()\n"
        "before = ['invoke' in sys.modules, paramiko.config.invoke is None]\n"
        "import soakgate\n"
        "soakgate.allow_ssh()\n"
        "import fabric, invoke\n"
        "print(json.dumps(before + [paramiko.config.invoke is invoke]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == [False, True, True]
