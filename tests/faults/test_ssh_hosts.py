"""A stage on two Docker hosts reached over SSH (real sshd, real engines in their own network
namespaces): ``soakgate hosts check`` and ``hosts send`` through one connection per host, and
what each SSH failure looks like — an unknown host key, a refused client key, a host that is
down, a connection cut in the middle of sending an image. Nothing may be left half-done: an
image arrives whole with the release's digest or not at all, and a re-run completes.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from soakgate.core.names import StageNames
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject

from .ssh_hosts import SshHost, SshHosts, kill_user

pytestmark = pytest.mark.integration

SOAKGATE = str(ROOT / ".venv" / "bin" / "soakgate")


def logins(host: SshHost) -> int:
    """How many SSH logins the host's sshd has accepted so far."""
    return host.sshd_log.read_text(errors="replace").count("Accepted publickey")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("error:", "hint:"))]


def present(host: SshHost, release: Release) -> bool:
    import docker.errors

    try:
        return host.engine.client.images.get(release.image).id == release.digest
    except docker.errors.ImageNotFound:
        return False


class StderrLines:
    """A process's stderr read in a thread (so that a deadline holds even when no line
    comes): wait for a line, then have them all once the process ended."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._pump, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self._done = True
            self._new.notify_all()

    def wait_for(self, wanted: Callable[[str], bool], seconds: float) -> bool:
        """True once a line ``wanted`` accepts has come; False at the end or the deadline."""
        deadline = time.monotonic() + seconds
        with self._new:
            while not any(wanted(line) for line in self.lines):
                left = deadline - time.monotonic()
                if self._done or left <= 0:
                    return False
                self._new.wait(left)
            return True

    def text(self, seconds: float = 30) -> str:
        """Every line, once the stream ended."""
        self._thread.join(seconds)
        return "".join(self.lines)


def test_check_reads_each_host_over_one_connection(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    before = [logins(host) for host in ssh_hosts]
    checked = ssh_scratch.soakgate("hosts", "check", "production", "--json", timeout=120)
    assert checked.returncode == 0, checked.stderr
    readings = json.loads(checked.stdout)
    assert [reading["host"] for reading in readings] == ssh_hosts.urls
    for reading in readings:
        assert reading["error"] is None and reading["problems"] == [], reading
        assert reading["engine_version"].startswith("20.10"), reading
        assert reading["free_bytes"] > 0
        assert abs(reading["clock_skew"]) < 1.0, reading  # the same clock: only the round trip
        assert set(reading["images"]) == {release.digest for release in releases.values()}
        assert not any(reading["images"].values())  # nothing sent yet
    # several API calls and a command per host, one SSH login each
    assert [logins(host) - count for host, count in zip(ssh_hosts, before, strict=True)] == [1, 1]


def test_send_streams_each_image_once_and_checks_its_digest(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    sent = ssh_scratch.soakgate("hosts", "send", "production", "--json", timeout=600)
    assert sent.returncode == 0, sent.stderr
    first = json.loads(sent.stdout)
    assert len(first) == len(ssh_hosts) * len(releases)
    assert all(done["error"] is None and done["bytes"] > 1_000_000 for done in first), first
    for host in ssh_hosts:
        for release in releases.values():
            assert present(host, release), (host.url, release.image)
    again = ssh_scratch.soakgate("hosts", "send", "production", "--json", timeout=120)
    assert again.returncode == 0, again.stderr
    assert [done["bytes"] for done in json.loads(again.stdout)] == [0] * len(first)
    checked = ssh_scratch.soakgate("hosts", "check", "production", "--json", timeout=120)
    assert all(all(reading["images"].values()) for reading in json.loads(checked.stdout))


def test_a_connection_cut_mid_image_leaves_nothing_half_loaded(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    """Host 2's SSH session is killed while it receives an image: the command says so in
    one line, host 1 still gets everything, host 2 holds no partial image, a re-run
    completes."""
    victim = ssh_hosts[1]
    release = min(releases.values(), key=lambda release: release.python_series)  # sent first
    process = subprocess.Popen(
        [SOAKGATE, "hosts", "send", "production", release.digest],
        cwd=ssh_scratch.root,
        env=ssh_scratch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = StderrLines(process)
    try:
        progress = stderr.wait_for(
            lambda line: line.startswith(f"{victim.address}:") and "MB sent" in line, 120
        )
        assert progress, f"no progress line of {victim.address} came: {stderr.lines}"
        kill_user(victim.user)  # its sshd session and the remote docker dial-stdio
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out, err = process.stdout.read() if process.stdout else "", stderr.text()
    assert process.returncode == 5, (out, err)  # DockerError's code
    errors = error_lines(err)
    assert len(errors) == 2 and victim.url in errors[0], err
    assert re.search(r"lost the SSH connection|does not answer SSH|SSH connection", errors[0]), err
    assert present(ssh_hosts[0], release)
    assert not present(victim, release)  # nothing half-loaded under the release's name
    again = ssh_scratch.soakgate("hosts", "send", "production", release.digest, "--json")
    assert again.returncode == 0, again.stderr
    assert present(victim, release)


def test_ssh_failures_say_one_line_with_the_fix(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    down = ssh_hosts[1]

    def check(**env: str) -> subprocess.CompletedProcess[str]:
        saved = dict(ssh_scratch.env)
        ssh_scratch.env.update(env)
        try:
            return ssh_scratch.soakgate("hosts", "check", "production", "--json", timeout=120)
        finally:
            ssh_scratch.env.clear()
            ssh_scratch.env.update(saved)

    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = check(SOAKGATE_SSH_KNOWN_HOSTS=str(empty))
    assert unknown.returncode != 0
    reading = json.loads(unknown.stdout)[0]
    assert "SHA256:" in reading["error"] and "ssh-keyscan -p 22" in reading["error"], reading
    offered = subprocess.run(
        ["ssh-keygen", "-lf", str(ssh_hosts[0].host_key.with_suffix(".pub"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert offered in reading["error"]  # the fingerprint ssh-keygen shows on the host

    stranger = tmp_path / "id_stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    refused = check(SOAKGATE_SSH_IDENTITY=str(stranger))
    assert refused.returncode != 0
    assert all(
        "refused soakgate's SSH key" in reading["error"] for reading in json.loads(refused.stdout)
    )

    down.stop_sshd()
    try:
        began = time.monotonic()
        partial = check()
        took = time.monotonic() - began
    finally:
        down.start_sshd()
    assert partial.returncode == 5  # DockerError's code
    first, second = json.loads(partial.stdout)
    assert first["problems"] == [], first  # the other host is still read
    assert "does not answer SSH" in second["error"], second
    assert took < 60, took
    errors = error_lines(partial.stderr)
    assert len(errors) == 2 and "1 of 2 hosts of production" in errors[0], partial.stderr
    back = check()
    assert back.returncode == 0, back.stderr


def recaps(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP's counters per host: {host: {"ok": n, "changed": n, ...}}."""
    found = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        name, _, counters = line.partition(" : ")
        if counters:
            found[name.strip()] = {
                key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)
            }
    return found


def test_the_host_playbook_prepares_both_hosts_over_ssh_then_changes_nothing(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, tmp_path: Path
) -> None:
    """docker-host.yml over SSH as root (inventory from soakgate inventory): the deploy user
    joins group docker, the engine's daemon.json rotates logs, the open-files limit is set; a
    second run reports changed=0 on both hosts. Every path is the test's own: root on these
    hosts is root on this machine."""
    made = ssh_scratch.soakgate("inventory", "production", "--state-dir", str(tmp_path / "s"))
    assert made.returncode == 0, made.stderr
    inventory = yaml.safe_load(made.stdout)
    hosts = inventory["all"]["children"]["production"]["hosts"]
    for host in ssh_hosts:
        entry = hosts[host.address]
        assert entry["deploy_user"] == host.user
        entry.update(
            docker_daemon_json=str(host.engine.root / "daemon.json"),
            limits_file=str(tmp_path / f"limits-{host.index}.conf"),
            docker_host=host.engine.host,
            state_dir=str(tmp_path / f"state-{host.index}"),
        )
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))

    def play() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "ansible-playbook"),
                "-i",
                str(path),
                str(ROOT / "playbooks" / "docker-host.yml"),
                "-e",
                "ansible_user=root",  # -u would lose to the inventory's ansible_user
                # one host at a time: these hosts share this machine's /etc/passwd, and two
                # usermods at once fail to lock it (real hosts have one each)
                "--forks",
                "1",
                "-e",
                f"ansible_ssh_common_args='-F {ssh_hosts.ssh_config}'",
                "-e",
                json.dumps({"deploy_key": ssh_hosts.identity.with_suffix(".pub").read_text()}),
            ],
            # pipelining: a module runs in the SSH session it came by (about 40 % faster here)
            env={**ssh_scratch.env, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": "True"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    first = play()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    counts = recaps(first.stdout)
    assert set(counts) == {host.address for host in ssh_hosts}, first.stdout[-2000:]
    for host in ssh_hosts:
        assert counts[host.address]["failed"] == counts[host.address]["unreachable"] == 0
        assert counts[host.address]["changed"] >= 3, first.stdout[-3000:]
        groups = subprocess.run(["id", "-nG", host.user], capture_output=True, text=True)
        assert "docker" in groups.stdout.split()
        daemon = json.loads((host.engine.root / "daemon.json").read_text())
        assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}
        assert (
            f"{host.user} hard nofile 65536" in (tmp_path / f"limits-{host.index}.conf").read_text()
        )
        assert "Docker engine 20.10" in first.stdout
    second = play()
    assert second.returncode == 0, second.stdout[-3000:]
    assert {name: c["changed"] for name, c in recaps(second.stdout).items()} == {
        host.address: 0 for host in ssh_hosts
    }, second.stdout[-3000:]


def test_verify_checks_each_ssh_host_over_ssh(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts
) -> None:
    """soakgate verify of a stage on SSH hosts runs the host checks on each host over SSH, as
    its deploy user: red while a host's engine does not rotate logs (also while the rotation
    is written but the engine has not restarted since) and while something listens on its
    address, green once both are fixed."""
    for host in ssh_hosts:
        (host.engine.root / "daemon.json").write_text("{}\n")
    listener = ssh_hosts[1].engine.popen_in_netns(
        [sys.executable, "-m", "http.server", "--bind", ssh_hosts[1].address, "8999"]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and banner_less(ssh_hosts[1].address, 8999):
            time.sleep(0.1)
        red = ssh_scratch.soakgate("verify", "production", timeout=300)
    finally:
        listener.kill()
        listener.wait()
    assert red.returncode != 0, red.stdout
    failed = [line for line in red.stderr.splitlines() if line.startswith("failed:")]
    assert sorted(failed) == sorted(
        [
            f"failed: test_docker_host::test_the_engine_rotates_container_logs[{host.address}]"
            for host in ssh_hosts
        ]
        + [
            "failed: test_docker_host::test_nothing_listens_outside_but_ssh_and_the_proxies"
            f"[{ssh_hosts[1].address}]"
        ]
    ), red.stderr
    rotation = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
    for host in ssh_hosts:
        (host.engine.root / "daemon.json").write_text(json.dumps(rotation))
    written = ssh_scratch.soakgate("verify", "production", timeout=300)
    assert written.returncode != 0  # written, but not in force until the engines restart
    assert (
        "changed after the engine started"
        in (ssh_scratch.root / "reports" / "verify-production.xml").read_text()
    )
    for host in ssh_hosts:
        host.engine.restart()
    green = ssh_scratch.soakgate("verify", "production", timeout=300)
    assert green.returncode == 0, green.stdout + green.stderr
    assert "verify production: 8 checks passed" in green.stdout  # 4 checks x 2 hosts


def banner_less(address: str, port: int) -> bool:
    """True while nothing accepts a TCP connection on ADDRESS:PORT."""
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return False
    except OSError:
        return True


def test_a_dropped_connection_is_opened_again_and_an_engine_refusal_is_named(
    ssh_hosts: SshHosts,
) -> None:
    """In one process: the connection sends small writes at once (TCP_NODELAY); the host's
    sessions killed between two calls, the next call connects again by itself; an engine the
    deploy user may not use is named with the CLI's reason."""
    from soakgate.adapters.ssh.connection import Connections
    from soakgate.adapters.ssh.host_keys import SshSettings
    from soakgate.core.hosts import parse_host
    from soakgate.errors import HostUnreachable

    host = ssh_hosts[0]
    settings = SshSettings(
        known_hosts=(str(ssh_hosts.known_hosts),), identity=str(ssh_hosts.identity)
    )
    pool = Connections(settings)
    try:
        connection = pool.get(parse_host("test", host.url))
        assert connection.docker.ping() is True
        transport = connection.ssh().get_transport()
        assert transport is not None
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        kill_user(host.user)  # the session and its dial-stdio die, as when a link drops
        deadline = time.monotonic() + 10
        while transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)  # paramiko's reader sees the close (nothing here reconnects)
        assert not transport.is_active()
        assert connection.docker.containers.list(all=True) == []
        assert connection.opened == 2
        again = connection.ssh().get_transport()
        assert again is not None
        assert again.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        pool.close()

    socket_mode = host.engine.socket.stat().st_mode & 0o777
    host.engine.socket.chmod(0o600)  # the deploy user is no longer let in
    pool = Connections(settings)
    try:
        with pytest.raises(HostUnreachable) as refused:
            _ = pool.get(parse_host("test", host.url)).docker
    finally:
        host.engine.socket.chmod(socket_mode)
        pool.close()
    assert f"does not answer {host.user} (" in refused.value.message
    assert "permission denied" in refused.value.message.lower(), refused.value.message
    assert "group docker" in refused.value.hint


def test_logs_reads_every_slot_on_every_host_and_names_a_host_that_is_down(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    release = releases["3.14"]
    sent = ssh_scratch.soakgate("hosts", "send", "production", release.digest, "--json")
    assert sent.returncode == 0, sent.stderr
    blue = StageNames("production", ssh_scratch.namespace).app("blue")
    container = ssh_hosts[0].engine.client.containers.run(
        release.digest,
        ["-c", "echo blue-is-up; sleep 120"],
        entrypoint="sh",
        name=blue,
        detach=True,
    )
    try:
        deadline = time.monotonic() + 20
        while b"blue-is-up" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        read = ssh_scratch.soakgate("logs", "production", "-n", "5", "--json", timeout=120)
        assert read.returncode == 0, read.stderr
        found = {(log["where"], log["container"]): log for log in json.loads(read.stdout)}
        assert len(found) == 6  # proxy, blue, green on two hosts
        first = ssh_hosts[0].address
        assert found[(first, blue)]["lines"][-1].endswith("blue-is-up")
        assert [log["lines"] for key, log in found.items() if key != (first, blue)] == [None] * 5

        ssh_hosts[1].stop_sshd()
        try:
            partial = ssh_scratch.soakgate("logs", "production", "--json", timeout=120)
        finally:
            ssh_hosts[1].start_sshd()
        assert partial.returncode == 5, partial.stderr  # DockerError's code
        logs = json.loads(partial.stdout)
        assert any(log["container"] == blue and log["lines"] for log in logs)
        (down,) = [log for log in logs if log["where"] == ssh_hosts[1].address]
        assert "does not answer SSH" in down["error"]
        assert error_lines(partial.stderr)[0].startswith("error: 1 host(s) of production")
    finally:
        container.remove(force=True)


def start_send(project: ScratchProject, digest: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SOAKGATE, "hosts", "send", "production", digest],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_sends_at_once_both_complete_with_one_image(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    release = releases["3.14"]
    first, second = (start_send(ssh_scratch, release.digest) for _ in range(2))
    outcomes = [process.communicate(timeout=600) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outcomes
    for host in ssh_hosts:
        assert present(host, release)
        images = host.engine.client.images.list(all=True)  # the fixture left it empty
        assert [image.id for image in images] == [release.digest], images


def test_a_send_killed_half_way_leaves_nothing_running_on_the_host(
    ssh_scratch: ScratchProject, ssh_hosts: SshHosts, releases: dict[str, Release]
) -> None:
    """SIGKILL of soakgate while it streams an image: the host's session and its docker
    processes end by themselves (the connection closed), no partial image is left under the
    release's name, and the re-run completes."""
    import pwd

    from .ssh_hosts import uid_pids

    release = releases["3.14"]
    process = start_send(ssh_scratch, release.digest)
    stderr = StderrLines(process)
    progress = stderr.wait_for(lambda line: "MB sent" in line, 120)
    process.kill()
    process.wait(timeout=30)
    assert progress, stderr.text()
    uids = [pwd.getpwnam(host.user).pw_uid for host in ssh_hosts]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(uid_pids(uid) for uid in uids):
        time.sleep(0.2)
    assert [uid_pids(uid) for uid in uids] == [[], []]  # no session, no dial-stdio left
    for host in ssh_hosts:
        assert not present(host, release)
    again = ssh_scratch.soakgate("hosts", "send", "production", release.digest, "--json")
    assert again.returncode == 0, again.stderr
    assert all(present(host, release) for host in ssh_hosts)
