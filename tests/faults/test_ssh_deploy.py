"""``production`` on two Docker hosts reached over SSH (real sshd, real engines in their own
network namespaces), deployed by ``soakgate deploy`` through ``pulumi up``: the release sent
to each host, the candidate started on both, and no host switched until both are healthy.
What was lost is counted: failed requests through each host's proxy under load, hosts left
serving what the other does not, candidates left behind.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.load import LoadGenerator
from soakgate.core.names import StageNames
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, past_gates

from .conftest import ROOT, two_ssh_hosts
from .ssh_hosts import SshHost, SshHosts

pytestmark = pytest.mark.integration
# The releases sent to the hosts stay between this module's tests (the first sends them; the
# hosts go at the module's end): about 8 s less per test.
KEEP_HOST_IMAGES = True


@pytest.fixture(scope="module")
def ssh_hosts() -> Iterator[SshHosts]:
    """Two SSH hosts prepared as docker-host.yml leaves them (log rotation in force), so that
    the verification after a rollback checks a host that should pass."""
    yield from two_ssh_hosts(log_rotation=True)


def try_deploy(
    project: ScratchProject, release: Release, *options: str
) -> subprocess.CompletedProcess[str]:
    """``soakgate deploy production`` of ``release`` past its gates, without verify."""
    return project.soakgate(
        "deploy", "production", "--release", release.digest, "--skip-verify",
        *past_gates("production"), *options,
    )  # fmt: skip


def deploy(project: ScratchProject, release: Release, *options: str) -> None:
    result = try_deploy(project, release, *options)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def third(ssh_scratch: ScratchProject, releases: dict[str, Release]) -> Iterator[Release]:
    """A release of its own (3.12 plus a label), recorded in the project; removed after."""
    import docker.errors

    from soakgate.adapters.docker.engine import build_from, client

    tag = f"soakgate-test/service:{ssh_scratch.namespace}-third"
    base = releases["3.12"]
    image = build_from(base.digest, [f"LABEL soakgate.test.third={ssh_scratch.namespace}"], tag)
    release = replace(base, digest=str(image.id), image=tag)
    ssh_scratch.record([release])
    yield release
    with contextlib.suppress(docker.errors.APIError):
        client().images.remove(tag, force=True)


def served(project: ScratchProject, host: SshHost) -> tuple[str | None, str | None]:
    """(slot, release) the host's proxy serves now, asked of the app through it."""
    import httpx

    answer = httpx.get(f"http://{host.address}:{project.ports['production']}/health", timeout=5)
    names = StageNames("production", project.namespace)
    slot = answer.headers.get("x-soakgate-slot")
    container = host.engine.client.containers.get(names.app(slot)) if slot else None
    release = container.labels.get("soakgate.release") if container else None
    return slot, release


def candidates(project: ScratchProject, host: SshHost) -> list[str]:
    names = StageNames("production", project.namespace)
    return [
        c.name
        for c in host.engine.client.containers.list(all=True)
        if c.name in (names.candidate("blue"), names.candidate("green"))
    ]


def status(project: ScratchProject) -> dict[str, object]:
    result = project.soakgate("status", "--json")
    assert result.returncode == 0, result.stderr
    (stage,) = [s for s in json.loads(result.stdout) if s["stage"] == "production"]
    return dict(stage)


@contextmanager
def load_on(
    project: ScratchProject, hosts: SshHosts | list[SshHost]
) -> Iterator[list[LoadGenerator]]:
    """Bounded load through each host's proxy (it stops by itself after 3 minutes)."""
    port = project.ports["production"]
    loads = [
        LoadGenerator(f"http://{host.address}:{port}/health", rate=40, max_seconds=180)
        for host in hosts
    ]
    for load in loads:
        load.start()
    try:
        yield loads
    finally:
        for load in loads:
            load.stop()


@contextmanager
def in_background(work: Callable[[threading.Event], None]) -> Iterator[None]:
    """``work(stop)`` in a thread for the ``with`` block; ``stop`` is set at its end."""
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(stop,), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=10)


@contextmanager
def when_a_candidate_starts_on(
    project: ScratchProject, host: SshHost, act: Callable[[Any], None]
) -> Iterator[list[str]]:
    """Do ``act`` (given the container) the moment a candidate runs on ``host``; yields the
    names of the candidates it was done to (one at most)."""
    seen: list[str] = []
    names = StageNames("production", project.namespace)
    wanted = (names.candidate("blue"), names.candidate("green"))

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():
            for container in host.engine.client.containers.list():
                if container.name in wanted:
                    act(container)
                    seen.append(container.name)
                    return
            time.sleep(0.02)

    with in_background(watch):
        yield seen


@contextmanager
def watch_served(project: ScratchProject, hosts: SshHosts) -> Iterator[set[tuple[str | None, ...]]]:
    """Every combination of releases the hosts' proxies served, looked at 5 times a second."""
    seen: set[tuple[str | None, ...]] = set()

    def watch(stop: threading.Event) -> None:
        while not stop.wait(0.2):
            with contextlib.suppress(Exception):  # a look that fails is no combination
                seen.add(tuple(served(project, host)[1] for host in hosts))

    with in_background(watch):
        yield seen


def test_hosts_switch_one_at_a_time_or_not_at_all_and_the_playbook_rolls_both_back(
    ssh_scratch: ScratchProject,
    ssh_hosts: SshHosts,
    releases: dict[str, Release],
    third: Release,
    tmp_path: Path,
) -> None:
    project = ssh_scratch
    old, new = releases["3.12"], releases["3.14"]
    deploy(project, old)
    assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
    view = status(project)
    assert view["health"] == "healthy on 2 hosts", view
    # one host at a time (--limit 1), the first watched 3 s through its proxy before the next:
    # a moment when host 1 serves 3.14 and host 2 still 3.12 is seen, and nothing fails
    with load_on(project, ssh_hosts) as loads, watch_served(project, ssh_hosts) as seen:
        deploy(project, new, "--limit", "1", "--wait", "3")
    for load in loads:
        assert load.report.sent > 0 and load.report.failed == 0, load.report.as_dict()
    assert [served(project, host)[1] for host in ssh_hosts] == [new.digest, new.digest]
    assert (new.digest, old.digest) in seen and (old.digest, new.digest) not in seen, seen
    sent = sum(load.report.sent for load in loads)
    print(f"deploy of 3.14 on 2 SSH hosts, one at a time, under load: 0 failed of {sent}")

    # A third release whose candidate hangs on host 2 only: neither host switches, and no
    # candidate is left running on either.
    project.pulumi("config", "set", "soakgate:healthTimeout", "8", "--stack", "production")
    hang = when_a_candidate_starts_on(project, ssh_hosts[1], lambda container: container.pause())
    with load_on(project, ssh_hosts) as loads, hang as hung:
        result = try_deploy(project, third)
    assert hung, "the candidate never appeared on host 2"
    assert result.returncode == 7, result.stdout + result.stderr
    assert "did not start healthy on 1 of 2 hosts of production" in result.stderr
    assert ssh_hosts[1].address in result.stderr and "no host switched" in result.stderr
    for load in loads:
        assert load.report.failed == 0, load.report.as_dict()
    assert [served(project, host)[1] for host in ssh_hosts] == [new.digest, new.digest]
    assert [candidates(project, host) for host in ssh_hosts] == [[], []]
    view = status(project)
    assert (
        view["health"] == "healthy on 2 hosts"
        and view["active"] == served(project, ssh_hosts[0])[0]
    ), view

    # The break-glass runbook from a control machine without soakgate: Debian's Ansible runs
    # rollback.yml with soakgate's virtualenv hidden, under load, and flips both hosts back to
    # 3.12 (still warm); soakgate ledger import then puts that one run on the ledger.
    records = tmp_path / "records.jsonl"
    with load_on(project, ssh_hosts) as loads:
        played = rollback_playbook(project, ssh_hosts, tmp_path, records)
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-2000:]
    for load in loads:
        assert load.report.sent > 0 and load.report.failed == 0, load.report.as_dict()
    assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
    sent = sum(load.report.sent for load in loads)
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert sorted(line["host"] for line in lines) == sorted(h.address for h in ssh_hosts)
    assert len({line["run"] for line in lines}) == 1 and {line["to_release"] for line in lines} == {
        old.digest
    }
    print(
        f"rollback.yml on 2 SSH hosts, venv hidden: {max(float(x['seconds']) for x in lines)} s,"
        f" 0 failed of {sent} requests"
    )
    assert status(project)["recorded_release"] == new.digest  # the drift the import ends
    imported = project.soakgate("ledger", "import", str(records))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    history = json.loads(project.soakgate("history", "production", "--json").stdout)
    rollback = history[-1]
    assert rollback["kind"] == "rollback" and rollback["data"]["path"] == "runbook (ansible)"
    assert (rollback["from_release"], rollback["to_release"]) == (new.digest, old.digest)
    assert rollback["data"]["verified"] is True, rollback["data"]
    assert all(host.address in rollback["data"]["reason"] for host in ssh_hosts), rollback
    view = status(project)
    assert view["recorded_release"] == old.digest and view["health"] == "healthy on 2 hosts"
    again = project.soakgate("ledger", "import", str(records))
    assert again.returncode == 0 and "already imported" in again.stdout, again.stderr
    assert json.loads(project.soakgate("history", "production", "--json").stdout) == history


def rollback_playbook(
    project: ScratchProject, hosts: SshHosts, tmp_path: Path, records: Path
) -> subprocess.CompletedProcess[str]:
    """rollback.yml on the stage's hosts by Debian's ansible-playbook, in a mount namespace
    where soakgate's virtualenv is an empty directory (the control machine's soakgate is gone);
    the inventory is the one soakgate inventory made beforehand."""
    made = project.soakgate("inventory", "production")
    assert made.returncode == 0, made.stderr
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(made.stdout)
    venv = ROOT / ".venv"
    hidden = 'mount -t tmpfs tmpfs "$1" && [ ! -e "$1/bin/python" ] && shift && exec "$@"'
    return subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "sh", "-c", hidden, "sh", str(venv),
            "/usr/bin/ansible-playbook", "-i", str(inventory),
            str(ROOT / "playbooks" / "rollback.yml"),
            "-e", f"ansible_ssh_common_args='-F {hosts.ssh_config}'",
            "-e", f"record_file={records}",
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "LANG": "C.UTF-8",
            "ANSIBLE_NOCOLOR": "1",
            # one SSH connection per host for the whole play, gone 10 s after it
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=10s",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip


def test_an_emergency_rollback_flips_both_and_a_host_that_is_down_joins_on_the_rerun(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    project = ssh_scratch
    old, new = releases["3.12"], releases["3.14"]
    deploy(project, old)
    deploy(project, new)  # 3.14 active on both, 3.12 warm
    down = ssh_hosts[1]
    down.stop_sshd()
    try:
        with load_on(project, [ssh_hosts[0]]) as loads:
            result = project.soakgate("rollback", "production", "--emergency")
        assert result.returncode == 7, result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if "hint" not in line]
        assert len(lines) == 2, result.stderr
        warning, error = lines
        assert warning.startswith("warning: 1 of 2 hosts of production switched to"), warning
        assert error.startswith("error: production is still split: "), error
        assert f"{down.address}:22 does not answer SSH" in error, error
        assert loads[0].report.failed == 0, loads[0].report.as_dict()
        # the host that answered is restored; the other still serves 3.14 (its SSH is down,
        # its proxy is not)
        assert served(project, ssh_hosts[0])[1] == old.digest
        assert served(project, down)[1] == new.digest
        health = str(status(project)["health"])
        assert health.startswith("SPLIT: ") and f"{down.address} unreachable" in health, health
    finally:
        down.start_sshd()
    health = str(status(project)["health"])
    assert health.startswith("SPLIT: ") and f"{down.address} serves" in health, health
    rerun = project.soakgate("rollback", "production", "--emergency")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
    view = status(project)
    assert view["health"] == "healthy on 2 hosts", view
    history = project.soakgate("history", "production", "--json")
    rollbacks = [e for e in json.loads(history.stdout) if e["kind"] == "rollback"]
    assert [(e["from_release"], e["to_release"]) for e in rollbacks] == [(new.digest, old.digest)]


def test_ssh_cut_in_the_middle_of_a_deploy_switches_no_host_and_the_rerun_completes(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release], tmp_path: Path
) -> None:
    project = ssh_scratch
    old, new = releases["3.12"], releases["3.14"]
    deploy(project, old)
    cut = ssh_hosts[1]
    # sshd and every session of it stopped: the host is gone for SSH
    cutting = when_a_candidate_starts_on(project, cut, lambda container: cut.stop_sshd())
    try:
        with load_on(project, ssh_hosts) as loads, cutting as went_down:
            result = try_deploy(project, new)
        assert went_down, "the candidate never appeared on host 2"
        assert result.returncode == 7, result.stdout + result.stderr
        failure = [line for line in result.stderr.splitlines() if cut.address in line]
        assert failure and any(
            words in failure[0] for words in ("does not answer SSH", "lost the SSH connection")
        ), result.stderr
        assert "no host switched" in failure[0], failure[0]
        assert f"its candidate is left on {cut.address}" in failure[0], failure[0]
        for load in loads:  # both proxies kept serving the old release throughout
            assert load.report.failed == 0, load.report.as_dict()
        assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
        assert candidates(project, ssh_hosts[0]) == []  # removed where SSH still answered
        health = str(status(project)["health"])
        assert f"{cut.address} unreachable" in health, health
    finally:
        cut.start_sshd()
    deploy(project, new)  # the re-run completes, and clears what the cut left on host 2
    assert [served(project, host)[1] for host in ssh_hosts] == [new.digest, new.digest]
    assert [candidates(project, host) for host in ssh_hosts] == [[], []]
    assert status(project)["health"] == "healthy on 2 hosts"

    # rollback.yml while host 2's SSH is down: host 1 flips, host 2 is named; once it answers,
    # soakgate ledger import switches it too and records the one rollback
    records = tmp_path / "records.jsonl"
    cut.stop_sshd()
    try:
        played = rollback_playbook(project, ssh_hosts, tmp_path, records)
    finally:
        cut.start_sshd()
    assert played.returncode == 4, played.stdout[-3000:]  # Ansible's "a host was unreachable"
    assert f"warning: production is split: {cut.address} did not answer" in played.stdout
    assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, new.digest]
    imported = project.soakgate("ledger", "import", str(records))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
    history = json.loads(project.soakgate("history", "production", "--json").stdout)
    (rollback,) = [e for e in history if e["kind"] == "rollback"]
    assert f"(not on {cut.address})" in rollback["data"]["reason"], rollback
    assert status(project)["health"] == "healthy on 2 hosts"


def test_a_soak_probes_every_host_and_a_hang_on_one_rolls_both_back(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    """The soak monitor on a stage on two SSH hosts: every probe asks both hosts' proxies; the
    active release hanging on host 2 alone breaches the soak, and the rollback policy flips
    both hosts back to the warm release."""
    import sqlite3

    from soakgate.adapters.state.soaks import DB_FILE, SoakStore

    from ..integration.test_soak import SHORT_SLO

    project = ssh_scratch
    old, new = releases["3.12"], releases["3.14"]
    toml = project.root / "soakgate.toml"
    fast = SHORT_SLO.replace("window_min_samples = 10", "window_min_samples = 5").replace(
        "min_samples = 20", "min_samples = 8"
    )
    assert fast != SHORT_SLO
    toml.write_text(re.sub(r"(?ms)^\[slo\].*\Z", fast, toml.read_text()))
    deploy(project, old)
    deploy(project, new)
    log = project.state / "soak-production.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    monitor = subprocess.Popen(
        [sys.executable, "-m", "soakgate.cli.soak", "run", "production", "--policy", "rollback",
         "--judge-every", "2", "--duration", "240"],
        cwd=project.root, env=project.env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    hung = ssh_hosts[1]
    paused: Any = None

    def soak() -> Any:
        with SoakStore.open(project.state) as store:
            return store.open_soak("production")

    def probes(soak_id: int, failed: bool = False) -> list[str | None]:
        with sqlite3.connect(project.state / DB_FILE) as connection:
            rows = connection.execute(
                "SELECT error FROM probe_samples WHERE soak_id = ?"
                + (" AND ok = 0" if failed else ""),
                (soak_id,),
            ).fetchall()
        return [error for (error,) in rows]

    try:
        opened = wait_until(soak, 60, "the soak to begin")
        assert opened.release == new.digest and opened.baseline == old.digest
        wait_until(lambda: len(probes(opened.id)) >= 10, 90, "10 probes")
        slot = served(project, hung)[0]
        names = StageNames("production", project.namespace)
        paused = hung.engine.client.containers.get(names.app(str(slot)))
        paused.pause()  # the release hangs on host 2 only; both engines are fine
        wait_until(
            lambda: [served(project, host)[1] for host in ssh_hosts] == [old.digest] * 2,
            120,
            "the policy's flip of both hosts",
        )
        code = monitor.wait(timeout=180)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        if paused is not None:
            with contextlib.suppress(Exception):
                paused.unpause()
    assert code == 0, log.read_text(errors="replace")[-3000:]
    failures = probes(opened.id, failed=True)
    assert failures and all(hung.address in str(error) for error in failures), failures[:5]
    with SoakStore.open(project.state) as store:
        ended = store.soak(opened.id)
    assert ended is not None and ended.state == "breached", ended
    history = json.loads(project.soakgate("history", "production", "--json").stdout)
    (breach,) = [event for event in history if event["kind"] == "soak"]
    assert (breach["from_release"], breach["to_release"]) == (new.digest, old.digest)
    rollbacks = [e for e in history if e["kind"] == "rollback"]
    assert [(e["from_release"], e["to_release"]) for e in rollbacks] == [(new.digest, old.digest)]
    assert status(project)["health"] == "healthy on 2 hosts"


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = condition()
            if value:
                return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_host_whose_docker_api_does_not_answer_is_flipped_by_the_runbook_over_ssh(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    """Host 2's Docker API stops answering soakgate (its ``docker system dial-stdio`` fails)
    while its SSH and docker CLI work: the emergency rollback flips host 1 as usual and host 2
    by the host-side runbook over SSH, under load, and says so."""
    project = ssh_scratch
    old, new = releases["3.12"], releases["3.14"]
    deploy(project, old)
    deploy(project, new)
    api_down = ssh_hosts[1]
    api_down.break_api()
    try:
        with load_on(project, ssh_hosts) as loads:
            result = project.soakgate("rollback", "production", "--emergency")
        for load in loads:
            assert load.report.sent > 0 and load.report.failed == 0, load.report.as_dict()
        assert [served(project, host)[1] for host in ssh_hosts] == [old.digest, old.digest]
        assert (
            f"{api_down.address}: its Docker API did not answer, so the host-side runbook flipped"
            " it over SSH" in result.stderr
        ), result.stdout + result.stderr
        # traffic is restored; what needs the API (Pulumi's reconcile) waits for it, and says so
        assert result.returncode == 9 and "restored in" in result.stderr, result.stderr
        assert "run soakgate rollback production again to finish it" in result.stderr
    finally:
        api_down.mend_api()
    finished = project.soakgate("rollback", "production")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    history = json.loads(project.soakgate("history", "production", "--json").stdout)
    rollbacks = [e for e in history if e["kind"] == "rollback"]
    # the flip (its reconcile failed, said on the ledger), then the same rollback finished
    assert [(e["from_release"], e["to_release"]) for e in rollbacks] == [
        (new.digest, old.digest)
    ] * 2
    assert "reconcile_error" in rollbacks[0]["data"] and rollbacks[1]["data"]["reconciled"]
    assert status(project)["health"] == "healthy on 2 hosts"
    assert status(project)["recorded_release"] == old.digest
