"""The host-side runbooks, for when the control machine is down, run for real: the rollback
playbook and the Fabric runbook flip a scratch stage to its warm slot; they and soakgate take
one kernel lock (each refuses while another holds it, and a killed keeper frees it at once);
docker-host.yml changes nothing on this already prepared machine; the refusals (a warm slot
marked bad, unhealthy or stopped) refuse and leave traffic alone."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import invoke
import pytest

from soakgate.adapters.stage.lock import describe_holder, is_locked, lock_path, stage_lock
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import parse_upstream, render_upstream
from soakgate.core.release import Release
from soakgate.errors import BadRelease, LockHeld, RollbackFailed, SwitchRefused
from soakgate.runbook import flip_to_warm, release_lock, take_lock
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration
PLAYBOOKS = ROOT / "playbooks"
HOST_PYTHON = "/usr/bin/python3"  # Debian's, as on a prepared host (the apt module needs it)


def deploy_both(project: ScratchProject, releases: dict[str, Release]) -> None:
    """3.12, then 3.14: green serves 3.14, blue keeps 3.12 warm (the host checks are the
    stage tests' business, not the runbooks')."""
    for series in ("3.12", "3.14"):
        digest = releases[series].digest
        result = project.soakgate(
            "deploy", "staging", "--release", digest, "--skip-verify", *past_gates("staging")
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert served(project) == (releases["3.14"].digest, "green")


def served(project: ScratchProject) -> tuple[str, str]:
    """(release digest, slot) answering /version through the staging proxy."""
    response = httpx.get(f"{project.url('staging')}/version", timeout=5)
    assert response.status_code == 200
    return response.json()["release"], response.headers["x-soakgate-slot"]


def status(project: ScratchProject) -> tuple[str, str, str]:
    """(active slot, health, recorded release) of staging, as `soakgate status` sees it."""
    views = json.loads(project.soakgate("status", "--json").stdout)
    view = next(view for view in views if view["stage"] == "staging")
    return view["active"], view["health"], view["recorded_release"]


def stage_vars(project: ScratchProject, **extra: Any) -> dict[str, Any]:
    return {
        "stage": "staging",
        "state_dir": str(project.state),
        "namespace": project.namespace,
        "port": project.ports["staging"],
        "record_file": str(project.root / "runbook-records.jsonl"),
        **extra,
    }


def playbook(
    name: str, variables: dict[str, Any], *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a playbook against this machine, as `ansible-playbook -i localhost, -c local`."""
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", **(env or {})}
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(PLAYBOOKS / name),
            "-e",
            f"ansible_python_interpreter={HOST_PYTHON}",
            "-e",
            json.dumps(variables),
            *options,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(result.stdout[-3000:], result.stderr[-2000:], sep="\n")
    return result


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(r"^localhost\s+:\s+(.*)$", result.stdout, re.M)
    assert match, result.stdout
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def log_lines(project: ScratchProject) -> list[dict[str, Any]]:
    path = project.state / "runbook.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_flipped_to_blue(
    project: ScratchProject, releases: dict[str, Release], via: str
) -> dict[str, Any]:
    """Traffic on the warm slot, the upstream file as soakgate writes it, no lock, a log line."""
    assert served(project) == (releases["3.12"].digest, "blue")
    text = (project.state / "stages" / "staging" / "proxy" / "upstream.conf").read_text()
    target = parse_upstream(text)
    assert target is not None and text == render_upstream(target)
    assert (target.slot, target.digest, target.port) == ("blue", releases["3.12"].digest, 8000)
    assert target.address == StageNames("staging", project.namespace).app("blue")  # its name
    assert_unlocked(project)
    line = log_lines(project)[-1]
    assert {k: line[k] for k in ("stage", "from", "to", "from_release", "to_release", "via")} == {
        "stage": "staging",
        "from": "green",
        "to": "blue",
        "from_release": releases["3.14"].digest,
        "to_release": releases["3.12"].digest,
        "via": via,
    }
    assert 0 < line["flip_seconds"] <= line["seconds"] < 60
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", line["time"])
    return line


def assert_unlocked(project: ScratchProject) -> None:
    """The stage lock is free, its file kept and its record cleared."""
    path = lock_path(project.state, "staging")
    assert not is_locked(project.state, "staging")
    assert path.exists() and path.read_text() == ""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: the kernel has closed its descriptors)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pid: int) -> None:
    for _ in range(500):
        if not alive(pid):
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} still runs")


def wait_healthy(engine: docker.DockerClient, name: str, namespace: str) -> None:
    """Until the container answers /health straight at its (new) address."""
    network = StageNames("staging", namespace).network
    for _ in range(300):
        data = engine.api.inspect_container(name)
        address = data["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress")
        with contextlib.suppress(httpx.HTTPError):
            if address and httpx.get(f"http://{address}:8000/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{name} never answered /health")


def test_playbook_flips_a_stage_to_its_warm_slot(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    deploy_both(scratch, releases)

    result = playbook("rollback.yml", stage_vars(scratch))
    assert result.returncode == 0
    line = assert_flipped_to_blue(scratch, releases, "ansible")
    assert f"staging: traffic on blue ({releases['3.12'].digest[:19]}) after" in result.stdout
    print(f"\nplaybook rollback: {line['seconds']} s, flip {line['flip_seconds']} s")

    # soakgate on the control machine sees the flip, and the drift from the stack config ...
    assert status(scratch) == ("blue", "healthy", releases["3.14"].digest)
    # ... which `soakgate rollback` adopts from runbook.log: no flip back, no container touched,
    # the stack reconciled and verified, the runbook's measured duration on the ledger.
    containers = {c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})}
    plan = scratch.soakgate("rollback", "staging", "--dry-run")
    assert plan.returncode == 0 and "runbook (ansible)" in plan.stdout, plan.stdout + plan.stderr
    result = scratch.soakgate("rollback", "staging")
    assert result.returncode == 0, result.stdout + result.stderr
    assert status(scratch) == ("blue", "healthy", releases["3.12"].digest)
    events = json.loads(scratch.soakgate("history", "staging", "--json").stdout)
    adopted = events[-1]
    assert adopted["kind"] == "rollback" and adopted["data"]["path"] == "runbook (ansible)"
    assert adopted["to_release"] == releases["3.12"].digest and adopted["data"]["verified"] is True
    assert adopted["data"]["seconds_to_restored"] == pytest.approx(line["seconds"], abs=1.5)
    assert {
        c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})
    } == containers
    assert served(scratch) == (releases["3.12"].digest, "blue")
    # the playbook's record on the control machine names the same run: importing it after the
    # adoption adds nothing to the ledger
    (record,) = (scratch.root / "runbook-records.jsonl").read_text().splitlines()
    assert json.loads(record)["run"] == line["run"] and json.loads(record)["host"] == "localhost"
    again = scratch.soakgate("ledger", "import", str(scratch.root / "runbook-records.jsonl"))
    assert again.returncode == 0 and "staging: already imported" in again.stdout, again.stderr
    assert json.loads(scratch.soakgate("history", "staging", "--json").stdout) == events


def test_fabric_runbook_flips_a_stage_to_its_warm_slot(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    deploy_both(scratch, releases)

    result = flip_to_warm(
        invoke.Context(),
        "staging",
        str(scratch.state),
        namespace=scratch.namespace,
        port=scratch.ports["staging"],
    )
    line = assert_flipped_to_blue(scratch, releases, "fabric")
    assert result == line
    print(f"\nfabric rollback: {line['seconds']} s, flip {line['flip_seconds']} s")

    # The fab command (no -H: this machine) flips it back.
    fab = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "fab"),
            "-r",
            str(ROOT / "src" / "soakgate"),
            "rollback",
            "--stage",
            "staging",
            "--state-dir",
            str(scratch.state),
            "--port",
            str(scratch.ports["staging"]),
            "--namespace",
            scratch.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert fab.returncode == 0, fab.stdout + fab.stderr
    assert "staging: traffic on green" in fab.stdout
    assert served(scratch) == (releases["3.14"].digest, "green")
    assert [entry["to"] for entry in log_lines(scratch)] == ["blue", "green"]
    assert_unlocked(scratch)


def test_one_kernel_lock_for_soakgate_and_both_runbooks(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    deploy_both(scratch, releases)
    before = served(scratch)
    context = invoke.Context()
    fabric_args: dict[str, Any] = {"namespace": scratch.namespace, "port": scratch.ports["staging"]}
    path = lock_path(scratch.state, "staging")

    # soakgate holds the stage lock: both runbooks refuse, naming it from the lock file
    with stage_lock(scratch.state, "staging", "soakgate deploy staging", wait=0) as record:
        holder = describe_holder(record)
        result = playbook("rollback.yml", stage_vars(scratch))
        assert result.returncode != 0
        assert f"stage staging is locked by {holder}" in " ".join(result.stdout.split())
        with pytest.raises(LockHeld, match=re.escape(holder)):
            flip_to_warm(context, "staging", str(scratch.state), **fabric_args)
        with pytest.raises(LockHeld, match=re.escape(holder)):  # flock -w: waits, then refuses
            flip_to_warm(context, "staging", str(scratch.state), lock_wait=0.5, **fabric_args)
    assert served(scratch) == before and log_lines(scratch) == []

    # a runbook's keeper holds it: soakgate and the playbook refuse, naming the keeper
    keeper = take_lock(context, str(path), "staging", 120, 0, "fab rollback staging")
    try:
        mine = rf"pid {keeper} \(fab rollback staging\)"
        with (
            pytest.raises(LockHeld, match=mine),
            stage_lock(scratch.state, "staging", "soakgate rollback staging", wait=0),
        ):
            pass
        result = playbook("rollback.yml", stage_vars(scratch))
        assert result.returncode != 0 and re.search(mine, " ".join(result.stdout.split()))
        emergency = scratch.soakgate("rollback", "staging", "--emergency")
        assert emergency.returncode == LockHeld.exit_code, emergency.stdout + emergency.stderr
        assert re.search(mine, emergency.stderr), emergency.stderr
        assert served(scratch) == before

        # the keeper killed (a dropped connection at its ttl's end, or anyone's kill -9): the
        # kernel frees the lock as it dies; nothing stale is left to recover
        os.kill(keeper, signal.SIGKILL)
        wait_dead(keeper)
        with stage_lock(scratch.state, "staging", "soakgate deploy staging", wait=0):
            pass
    finally:
        if alive(keeper):
            release_lock(context, str(path), keeper, lambda message: None)
    flip_to_warm(context, "staging", str(scratch.state), **fabric_args)
    assert served(scratch) == (releases["3.12"].digest, "blue")
    assert_unlocked(scratch)


def test_refusals_leave_traffic_where_it_was(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    deploy_both(scratch, releases)
    before = served(scratch)
    context = invoke.Context()
    fabric_args: dict[str, Any] = {"namespace": scratch.namespace, "port": scratch.ports["staging"]}

    # The warm slot (blue) runs a release soakgate marked bad: no flip to it.
    bad = scratch.state / "stages" / "staging" / "bad-releases"
    bad.write_text(f"{releases['3.12'].digest}\n")
    marked = f"runs {releases['3.12'].digest[:19]}, marked bad in {bad}"
    result = playbook("rollback.yml", stage_vars(scratch))
    assert result.returncode != 0 and marked in " ".join(result.stdout.split())
    with pytest.raises(BadRelease, match=re.escape(marked)):
        flip_to_warm(context, "staging", str(scratch.state), **fabric_args)
    assert served(scratch) == before
    assert_unlocked(scratch)

    # The warm slot hangs: its one direct probe fails within a second, nothing is switched.
    bad.unlink()
    warm = engine.containers.get(f"{scratch.namespace}-app-staging-blue")
    warm.pause()
    try:
        unhealthy = "the blue slot of staging is not healthy"
        result = playbook("rollback.yml", stage_vars(scratch))
        assert result.returncode != 0 and unhealthy in " ".join(result.stdout.split())
        with pytest.raises(SwitchRefused, match=unhealthy):
            flip_to_warm(context, "staging", str(scratch.state), **fabric_args)
        assert served(scratch) == before
        assert_unlocked(scratch)
    finally:
        warm.unpause()

    # The warm slot is stopped: no emergency flip possible.
    warm.stop(timeout=2)
    result = playbook("rollback.yml", stage_vars(scratch))
    assert result.returncode != 0
    message = f"the warm slot blue of staging ({warm.name}) is not running"
    assert message in " ".join(result.stdout.split())
    with pytest.raises(RollbackFailed, match=re.escape(message)):
        flip_to_warm(context, "staging", str(scratch.state), **fabric_args)
    assert served(scratch) == before
    assert_unlocked(scratch)
    assert log_lines(scratch) == []  # refusals log nothing

    # A malformed bad-releases file is a warning, not a stop.
    warm.start()
    wait_healthy(engine, warm.name, scratch.namespace)
    bad.write_bytes(b"\xff not a digest\n")
    warnings: list[str] = []
    flip_to_warm(context, "staging", str(scratch.state), warn=warnings.append, **fabric_args)
    assert served(scratch) == (releases["3.12"].digest, "blue")
    assert f"{bad}: line 1 is not a release digest; ignored" in warnings
    result = playbook("rollback.yml", stage_vars(scratch))  # and back, by the playbook
    assert result.returncode == 0
    assert f"warning: {bad}: line 1 is not a release digest; ignored" in result.stdout
    assert served(scratch) == before
    assert [entry["to"] for entry in log_lines(scratch)] == ["blue", "green"]


def test_docker_host_changes_nothing_on_a_prepared_host(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    state, daemon_json = tmp_path / "state", tmp_path / "daemon.json"
    variables = {"state_dir": str(state), "docker_daemon_json": str(daemon_json)}

    check = playbook("docker-host.yml", variables, "--check")
    assert check.returncode == 0
    assert not state.exists() and not daemon_json.exists()  # --check changed nothing

    first = playbook("docker-host.yml", variables)
    assert first.returncode == 0
    assert state.is_dir() and oct(state.stat().st_mode & 0o777) == "0o750"
    # The engine answers already: it is left alone (no systemd here, no second dockerd).
    started = re.search(r"TASK \[Start dockerd in the background.*?\n(\w+):", first.stdout, re.S)
    assert started and started.group(1) == "skipping"

    assert json.loads(daemon_json.read_text())["log-opts"] == {"max-size": "10m", "max-file": "3"}
    second = playbook("docker-host.yml", variables)
    assert second.returncode == 0
    assert recap(second)["changed"] == 0, second.stdout
    assert recap(second)["failed"] == 0


def test_docker_host_starts_dockerd_when_no_engine_answers(tmp_path: Path) -> None:
    """The no-systemd path, with stand-ins for docker and dockerd (the real engine is shared)."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        '#!/bin/sh\n[ -f "$FAKE_UP" ] && echo 20.10-fake && exit 0\n'
        'echo "Cannot connect to the Docker daemon" >&2; exit 1\n'
    )
    (bin_dir / "dockerd").write_text(
        '#!/bin/sh\n[ "$1" = --pidfile ] && echo $$ > "$2"; touch "$FAKE_UP"; exec sleep 60\n'
    )
    for name in ("docker", "dockerd"):
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_UP": str(tmp_path / "up")}
    pidfile = state / "docker" / "dockerd.pid"
    try:
        variables = {"state_dir": str(state), "docker_daemon_json": str(tmp_path / "daemon.json")}
        first = playbook("docker-host.yml", variables, env=env)
        assert first.returncode == 0
        assert "Docker engine 20.10-fake (started, no systemd)" in first.stdout
        assert pidfile.is_file() and Path(f"/proc/{pidfile.read_text().strip()}").exists()
        second = playbook("docker-host.yml", variables, env=env)
        assert second.returncode == 0 and recap(second)["changed"] == 0
    finally:
        if pidfile.is_file():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
