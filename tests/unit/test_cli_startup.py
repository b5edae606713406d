"""Every soakgate command pays for what the CLI imports at start: the plotting and numeric
libraries (over half a second on 2 cores) are imported only by the commands that draw."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

HEAVY = ("matplotlib", "numpy", "scipy", "testinfra", "pytest", "pulumi")


def printed_json(probe: str) -> Any:
    """What a fresh interpreter running ``probe`` printed last, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_the_cli_starts_without_plotting_or_numeric_libraries() -> None:
    probe = (
        "import json, sys\n"
        "import soakgate.cli.main\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    loaded = set(printed_json(probe))
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
    assert printed_json(probe) == [False, True, True]


def test_a_command_imports_its_own_module_and_not_the_others() -> None:
    """``soakgate history`` imports the ledger's CLI module and none of the other commands'
    (each of which once cost every command its import: about half a second in all)."""
    probe = (
        "import json, sys\n"
        "from soakgate.cli.main import main\n"
        "sys.argv = ['soakgate', 'history', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.startswith('soakgate.cli.'))))\n"
    )
    loaded = set(printed_json(probe))
    assert "soakgate.cli.ledger" in loaded  # the command ran from its module
    others = {"compare", "evidence", "demo", "report", "stages", "gates", "soak", "hosts"}
    assert sorted(loaded.intersection(f"soakgate.cli.{name}" for name in others)) == []


def test_help_lists_every_command_and_a_typo_gets_a_suggestion() -> None:
    from typer.testing import CliRunner

    from soakgate.cli.main import COMMANDS, GROUPS, app

    runner = CliRunner()
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    for name in [*COMMANDS, *GROUPS]:
        assert f" {name} " in listed.output, name
    typo = runner.invoke(app, ["statu"])
    assert typo.exit_code == 2
    assert "Did you mean 'status'?" in typo.output
