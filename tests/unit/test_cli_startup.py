"""Every soakgate command pays for what the CLI imports at start: the plotting and numeric
libraries (over half a second on 2 cores) are imported only by the commands that draw."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

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


# Thread 1 imports paramiko without invoke; thread 2 waits until thread 1 is inside that import
# (paramiko's ssh_config loaded with invoke blocked) and then, as an emergency rollback's other
# host or the runbook's Fabric would, asks for paramiko or imports Fabric.
RACE = """
import json, sys, threading, time
import soakgate
from soakgate.adapters.ssh.connection import _paramiko

errors, seen = [], []

def first():
    try:
        _paramiko()
    except Exception as exc:
        errors.append(repr(exc))

def inside():
    config = sys.modules.get("paramiko.config")
    blocked = sys.modules.get("invoke", 1) is None
    return config is not None and getattr(config, "invoke", True) is None and blocked

def second():
    deadline = time.monotonic() + 20
    while not inside() and time.monotonic() < deadline:
        time.sleep(0.0002)
    seen.append(inside())
    try:
        if WHAT == "paramiko":
            _paramiko()
        else:
            soakgate.allow_ssh()
            import fabric
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=second), threading.Thread(target=first)]
for thread in threads:
    thread.start()
    time.sleep(0.01)
for thread in threads:
    thread.join()
print(json.dumps([errors, seen, "invoke" in sys.modules]))
"""


@pytest.mark.parametrize("what", ["paramiko", "fabric"])
def test_a_thread_importing_ssh_beside_the_first_import_of_paramiko_never_finds_invoke_blocked(
    what: str,
) -> None:
    """CI once failed an emergency rollback rerun on two SSH hosts with "import of invoke
    halted": one host's thread asked for paramiko while the other's was importing it."""
    errors, seen, invoke_loaded = printed_json(f"WHAT = {what!r}\n" + RACE)
    assert seen == [True]  # the second thread came while the first was inside the import
    assert errors == []
    assert invoke_loaded is (what == "fabric")  # soakgate's own SSH still goes without it


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
