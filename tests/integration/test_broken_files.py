"""Broken local files never block the emergency path: each one below, and the emergency
rollback still restores traffic; what reads the file says so in one line naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, past_gates

pytestmark = pytest.mark.integration


def _journal(project: ScratchProject) -> Path:
    path = project.state / "stages" / "production" / "rollback.json"
    path.write_text('{"stage": "production", "path": "emer')  # cut half-way
    return path


def _runbook_log(project: ScratchProject) -> Path:
    path = project.state / "runbook.log"
    path.write_text("[1]\n{not json\n")
    return path


def _marker(project: ScratchProject) -> Path:
    path = project.state / "stages" / "production" / "proxy" / "upstream.conf"
    path.write_text("# soakgate upstream: slot=blu")  # the proxy keeps what it loaded
    return path


def _database(project: ScratchProject) -> Path:
    path = project.state / "soakgate.db"
    for extra in ("soakgate.db-wal", "soakgate.db-shm"):
        (project.state / extra).unlink(missing_ok=True)
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    return path


def _stack_file(project: ScratchProject) -> Path:
    path = project.root / "Pulumi.production.yaml"
    path.write_text(path.read_text() + "\n  soakgate:port: [unclosed\n")
    return path


BREAKERS: dict[str, Callable[[ScratchProject], Path]] = {
    "journal": _journal,
    "runbook.log": _runbook_log,
    "upstream marker": _marker,
    "soakgate.db": _database,
    "stack file": _stack_file,
}


def _release(project: ScratchProject) -> str:
    response = httpx.get(f"{project.url('production')}/version", timeout=5)
    assert response.status_code == 200
    release: str = response.json()["release"]
    return release


@pytest.mark.parametrize("broken", list(BREAKERS))
def test_emergency_rollback_restores_traffic_whatever_file_is_broken(
    scratch: ScratchProject, releases: dict[str, Release], broken: str
) -> None:
    good, bad = releases["3.12"], releases["3.14"]
    for release in (good, bad):
        done = scratch.soakgate(
            "deploy",
            "production",
            "--release",
            release.digest,
            "--skip-verify",
            *past_gates("production"),
        )
        assert done.returncode == 0, done.stdout + done.stderr
    path = BREAKERS[broken](scratch)
    result = scratch.soakgate("rollback", "production", "--emergency")
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert _release(scratch) == good.digest, f"traffic not restored with a broken {broken}"
    said = [line for line in result.stderr.splitlines() if line.startswith(("error:", "warning:"))]
    if broken in ("journal", "runbook.log", "soakgate.db", "stack file"):
        assert any(path.name in line for line in said), (broken, result.stderr)
    if result.returncode != 0:  # only when the file is needed after the flip (reconcile, ledger)
        assert broken in ("soakgate.db", "stack file"), output
        errors = [line for line in said if line.startswith("error:")]
        assert len(errors) == 1 and "traffic is on" in errors[0], result.stderr
