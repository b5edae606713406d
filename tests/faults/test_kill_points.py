"""Issue G.9: ``kill -9`` of a deploy at each point where it can hurt, and of a plain
``pulumi up`` mid-update, on the main engine in a scratch project.

Staging runs release A (3.12); ``soakgate deploy staging --release B`` (3.14) is started as a
user would start it and killed with SIGKILL (the process alone, not its group, as ``kill -9
PID`` does) at one of three points: before the candidate container starts, while the
candidate is in its health gate, right after the proxy switched to it. Afterwards, without any
clean-up by hand:

- no process of the killed command is left (pulumi CLI, language host, provider plugin);
- ``soakgate status`` says which release serves, and that release is the one that answers;
- ``pulumi preview`` of the stage does not fail (no "currently locked", no pending operation);
- the same deploy run again completes and serves B, without "the stack is currently locked";
- ``soakgate rollback --emergency`` then restores A;
- no ``-next`` candidate container is left.

What was lost is said by each assertion: the goal is nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx
import pytest

from soakgate.core.proxy_conf import parse_upstream
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration

SOAKGATE = str(ROOT / ".venv" / "bin" / "soakgate")
STAGE = "staging"
POINT_TIMEOUT = 180.0  # seconds for a deploy to reach the point where it is killed
EXIT_TIMEOUT = 20.0  # seconds for what the killed command started to end by itself
PLUGIN_NAMES = ("pulumi", "pulumi-language-python", "pulumi-resource-pulumi-python")


def deploy(project: ScratchProject, release: Release) -> subprocess.CompletedProcess[str]:
    return project.soakgate(
        "deploy", STAGE, "--release", release.digest, "--skip-verify", *past_gates(STAGE)
    )


def served(project: ScratchProject) -> tuple[str, str]:
    """(release, slot) of one answer through the stage's proxy."""
    response = httpx.get(f"{project.url(STAGE)}/version", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["release"], response.headers["x-soakgate-slot"]


RELOAD_SECONDS = 1.0  # a SIGHUP returns at once; nginx starts new workers after it


def settled(project: ScratchProject) -> tuple[str, str]:
    """What serves once nginx's reload is done and its old workers drained: five answers in a
    row alike, within 5 s. A killed command's last act can be the SIGHUP itself, and on a
    loaded machine the old workers then still answer for a moment (seen once in CI)."""
    time.sleep(RELOAD_SECONDS)
    deadline = time.monotonic() + 5
    answers = [served(project) for _ in range(5)]
    while len(set(answers[-5:])) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
        answers.append(served(project))
    return answers[-1]


def processes_of(project: ScratchProject) -> list[str]:
    """Live pulumi processes started for this scratch project (found by their environment)."""
    marker = f"SOAKGATE_HOME={project.state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                continue  # killed, waiting to be reaped: gone
            args = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        name = Path(args[0].decode(errors="replace")).name if args and args[0] else ""
        if marker in environ and (name in PLUGIN_NAMES or b"pulumi" in b" ".join(args[:2])):
            found.append(f"{entry.name} {b' '.join(args).decode(errors='replace')[:160]}")
    return found


def wait_gone(project: ScratchProject) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    while (left := processes_of(project)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the killed command still run after {EXIT_TIMEOUT} s: {left}"


def candidates(engine: docker.DockerClient, project: ScratchProject) -> list[str]:
    listed = engine.containers.list(  # a container may go between the list and its inspect
        all=True, filters={"name": f"{project.namespace}-app-"}, ignore_removed=True
    )
    return [c.name for c in listed if c.name.endswith("-next")]


def upstream_digest(project: ScratchProject) -> str | None:
    try:
        text = (project.state / "stages" / STAGE / "proxy" / "upstream.conf").read_text()
    except OSError:
        return None
    target = parse_upstream(text)
    return target.digest if target else None


def kill_at(
    project: ScratchProject, argv: list[str], reached: Callable[[], bool], point: str
) -> str:
    """Start ``argv`` in its own session, SIGKILL that process alone once ``reached()``;
    return what it printed."""
    log = project.root / f"killed-{point}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv,
            cwd=project.root,
            env=project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + POINT_TIMEOUT
        try:
            while not reached():
                assert process.poll() is None, (
                    f"the command ended (rc {process.returncode}) before {point}: "
                    + log.read_text()[-2000:]
                )
                assert time.monotonic() < deadline, f"{point} not reached in {POINT_TIMEOUT} s"
                time.sleep(0.02)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    return log.read_text()


def check_recovery(
    project: ScratchProject, engine: docker.DockerClient, good: Release, new: Release
) -> None:
    """What must hold after the kill; every step says what it would have lost."""
    wait_gone(project)

    release, slot = settled(project)
    assert release in (good.digest, new.digest), f"an unknown release answers: {release}"
    status = json.loads(project.soakgate("status", "--json").stdout)
    view = next(view for view in status if view["stage"] == STAGE)
    assert view["active"] == slot, f"status says {view['active']}, {slot} answers"
    active = next(s for s in view["slots"] if s["name"] == view["active"])
    assert active["digest"] == release, f"status says {active['digest']}, {release} answers"
    assert view["health"] == "healthy", view  # the routing agrees with the slots

    preview = project.pulumi("preview", "--stack", STAGE)
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]

    rerun = deploy(project, new)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "currently locked" not in rerun.stdout + rerun.stderr
    assert settled(project)[0] == new.digest, "the re-run deploy does not serve its release"
    assert not candidates(engine, project), "a candidate container was left behind"
    after = project.pulumi("preview", "--expect-no-changes", "--stack", STAGE)
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]

    back = project.soakgate("rollback", STAGE, "--emergency", "--reason", "kill test")
    assert back.returncode == 0, back.stdout[-2000:] + back.stderr[-2000:]
    assert settled(project)[0] == good.digest, "the emergency rollback did not restore A"
    assert "currently locked" not in back.stdout + back.stderr
    wait_gone(project)
    assert not candidates(engine, project), "a candidate container was left behind"


@pytest.mark.parametrize("point", ["before-candidate", "health-gate", "after-switch"])
def test_sigkill_of_a_deploy_loses_nothing(
    point: str, scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    good, new = releases["3.12"], releases["3.14"]
    first = deploy(scratch, good)
    assert first.returncode == 0, first.stdout + first.stderr

    def reached() -> bool:
        if point == "before-candidate":
            return bool(processes_of(scratch)) and not candidates(engine, scratch)
        if point == "health-gate":
            return bool(candidates(engine, scratch))
        return upstream_digest(scratch) == new.digest

    argv = [SOAKGATE, "deploy", STAGE, "--release", new.digest, "--skip-verify", *past_gates(STAGE)]
    kill_at(scratch, argv, reached, point)
    if point == "before-candidate":
        assert upstream_digest(scratch) == good.digest, "killed too late to test this point"
    check_recovery(scratch, engine, good, new)


def test_sigkill_of_a_plain_pulumi_up_mid_update(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    """``pulumi up`` run by hand (no soakgate around it), killed while its candidate runs."""
    good, new = releases["3.12"], releases["3.14"]
    first = deploy(scratch, good)
    assert first.returncode == 0, first.stdout + first.stderr
    scratch.admit(STAGE, new)  # its gates passed, on the ledger: plain pulumi up may deploy it
    config = scratch.pulumi("config", "set", "soakgate:release", new.digest, "--stack", STAGE)
    assert config.returncode == 0, config.stderr
    argv = ["pulumi", "up", "--yes", "--non-interactive", "--stack", STAGE]
    kill_at(scratch, argv, lambda: bool(candidates(engine, scratch)), "plain-pulumi-up")
    check_recovery(scratch, engine, good, new)
