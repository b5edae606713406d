"""SSH to a stage's hosts, without a host: the settings and refusals (host_keys), how each SSH
failure reads (connection.ssh_failure), a host's verdict (core.host_health), and the use
cases over fake engines (app.hosts: parallel, one host's failure does not stop the others)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from soakgate.adapters.ssh.connection import ssh_failure
from soakgate.adapters.ssh.host_keys import (
    KNOWN_HOSTS,
    SshSettings,
    changed_host_key,
    fingerprint,
    unknown_host_key,
)
from soakgate.app.hosts import check_hosts, send_releases, stage_hosts
from soakgate.core.config import ProjectConfig
from soakgate.core.host_health import GIB, HostReading, missing_images, problems
from soakgate.core.hosts import Host
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import ConfigError, HostUnreachable, SoakgateError

HOST = Host("deploy", "10.0.0.21")
OTHER = Host("deploy", "10.0.0.22", 2222)


def release(digit: str, python: str = "3.14.2") -> Release:
    return Release(f"sha256:{digit * 64}", python, "1.0", "r", "", 1, f"svc:{digit}")


# --- host keys and settings ---------------------------------------------------------------
def test_settings_read_the_known_hosts_of_the_environment_first(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("k")
    settings = SshSettings.from_env(
        {"SOAKGATE_SSH_KNOWN_HOSTS": "/a/known:/b/known", "SOAKGATE_SSH_IDENTITY": str(key)}
    )
    assert settings.known_hosts == ("/a/known", "/b/known", *KNOWN_HOSTS)
    assert settings.identity == str(key)
    assert SshSettings.from_env({}) == SshSettings()


def test_a_missing_identity_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        SshSettings.from_env({"SOAKGATE_SSH_IDENTITY": str(tmp_path / "nope")})
    assert "no such key file" in refused.value.message
    assert "\n" not in refused.value.message + refused.value.hint


def test_host_key_refusals_name_the_fingerprint_and_the_fix() -> None:
    unknown = unknown_host_key("[10.0.0.22]:2222", "ssh-ed25519", b"key", ("/k",))
    assert unknown.message == (
        f"the SSH host key of 10.0.0.22:2222 (ssh-ed25519 {fingerprint(b'key')}) is in no"
        " known_hosts file (/k): not connecting"
    )
    assert "ssh-keyscan -p 2222 10.0.0.22 >> ~/.ssh/known_hosts" in unknown.hint
    changed = changed_host_key("10.0.0.21", b"new", b"old")
    assert fingerprint(b"new") in changed.message and fingerprint(b"old") in changed.message
    assert "ssh-keygen -R '10.0.0.21'" in changed.hint
    assert fingerprint(b"key").startswith("SHA256:") and not fingerprint(b"key").endswith("=")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.AuthenticationException("Authentication failed."), "refused soakgate's SSH"),
        (
            lambda p: p.ssh_exception.NoValidConnectionsError({("10.0.0.21", 22): OSError()}),
            "does not answer SSH",
        ),
        (lambda p: ConnectionRefusedError(111, "Connection refused"), "does not answer SSH"),
        (lambda p: TimeoutError("timed out"), "did not answer SSH in time"),
        (lambda p: EOFError(), "lost the SSH connection to 10.0.0.21:22 mid-operation"),
        (lambda p: p.SSHException("Error reading SSH protocol banner"), "SSH connection to"),
    ],
)
def test_each_ssh_failure_is_one_line_naming_the_host(
    make: Callable[..., BaseException], expected: str
) -> None:
    import soakgate

    soakgate.allow_ssh()
    import paramiko

    failure = ssh_failure(HOST, make(paramiko))
    assert isinstance(failure, HostUnreachable)
    assert expected in failure.message and "10.0.0.21" in failure.message + failure.hint
    assert failure.hint and "\n" not in failure.message + failure.hint


# --- a host's verdict ---------------------------------------------------------------------
def reading(**fields: object) -> HostReading:
    values: dict[str, object] = {
        "engine_version": "20.10.24",
        "api_version": "1.41",
        "free_bytes": 40 * GIB,
        "clock_skew": 0.01,
        "images": {"sha256:" + "a" * 64: True, "sha256:" + "b" * 64: False},
    }
    values.update(fields)
    return HostReading(HOST, **values)  # type: ignore[arg-type]


def test_a_fit_host_has_no_problems_and_lists_the_images_it_lacks() -> None:
    assert problems(reading()) == []
    assert missing_images(reading()) == ["b" * 12]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"api_version": "1.40"}, "engine API 1.40 < 1.41"),
        ({"api_version": "1.41"}, None),
        ({"api_version": "1.47"}, None),
        ({"free_bytes": GIB}, "1.0 GiB free < 2 GiB"),
        ({"free_bytes": None}, "free disk unknown"),
        ({"clock_skew": -3.25}, "clock -3.2 s off (> 2 s)"),
        ({"clock_skew": None}, "clock unknown"),
    ],
)
def test_what_keeps_a_host_from_a_deploy(fields: dict[str, object], problem: str | None) -> None:
    assert problems(reading(**fields)) == ([problem] if problem else [])


def test_an_unreachable_host_has_only_its_reason() -> None:
    assert problems(HostReading(HOST, error="10.0.0.21:22 does not answer SSH")) == [
        "10.0.0.21:22 does not answer SSH"
    ]


# --- use cases over fake engines ----------------------------------------------------------
class FakeEngines:
    """Remote engines in memory: ``down`` hosts fail every call; records what was sent."""

    def __init__(self, down: Sequence[Host] = (), have: Sequence[tuple[Host, str]] = ()) -> None:
        self.down = set(down)
        self.have = set(have)
        self.sent: list[tuple[Host, str]] = []
        self._lock = threading.Lock()

    def read(self, host: Host, digests: Sequence[str]) -> HostReading:
        if host in self.down:
            return HostReading(host, error=f"{host.address}:22 does not answer SSH")
        return reading(images={d: (host, d) in self.have for d in digests})

    def send(
        self, host: Host, release: Release, progress: Callable[[int, int], None] | None = None
    ) -> int:
        if host in self.down:
            raise HostUnreachable(f"{host.address}:22 does not answer SSH", hint="check it")
        if (host, release.digest) in self.have:
            return 0
        if progress is not None:
            progress(10, 20)
            progress(20, 20)
        with self._lock:
            self.sent.append((host, release.digest))
        return 20


def test_send_reaches_the_other_hosts_when_one_is_down() -> None:
    releases = [release("a", "3.12.9"), release("b")]
    engines = FakeEngines(down=[OTHER], have=[(HOST, releases[0].digest)])
    seen: list[tuple[str, str, int]] = []
    deliveries = send_releases(
        [HOST, OTHER],
        engines,
        releases,
        lambda host, rel, sent, size: seen.append((host.address, rel.digest[7], sent)),
    )
    assert [(d.host, d.release.digest[7], d.bytes, d.error is None) for d in deliveries] == [
        (HOST, "a", 0, True),
        (HOST, "b", 20, True),
        (OTHER, "a", 0, False),  # down: its second release is not tried
    ]
    assert "does not answer SSH (hint: check it)" in str(deliveries[2].error)
    assert engines.sent == [(HOST, releases[1].digest)]
    assert seen == [("10.0.0.21", "b", 10), ("10.0.0.21", "b", 20)]


def test_hosts_are_sent_to_at_the_same_time() -> None:
    """Each host's send waits for the other's to start: sequential sends would time out."""
    barrier = threading.Barrier(2, timeout=5)

    class Meeting(FakeEngines):
        def send(self, host: Host, release: Release, progress: object = None) -> int:
            barrier.wait()
            return 1

    deliveries = send_releases([HOST, OTHER], Meeting(), [release("a")])
    assert [(d.bytes, d.error) for d in deliveries] == [(1, None), (1, None)]


def test_check_keeps_the_stage_order() -> None:
    readings = check_hosts([OTHER, HOST], FakeEngines(down=[OTHER]), [release("a")])
    assert [r.host for r in readings] == [OTHER, HOST]
    assert readings[0].error and readings[1].error is None


def test_a_stage_on_this_machine_has_no_ssh_hosts(tmp_path: Path) -> None:
    project = Project(tmp_path, ProjectConfig(), tmp_path / "state")
    with pytest.raises(ConfigError) as refused:
        stage_hosts(project, "dev", ())
    assert "runs on this machine's engine" in refused.value.message
    assert "soakgate:hosts" in refused.value.hint
    with pytest.raises(SoakgateError, match="unknown stage 'qa'"):
        stage_hosts(project, "qa", (HOST,))


def ssh_project(tmp_path: Path) -> Project:
    import shutil

    from soakgate.adapters.config_file import load_project

    root = Path(__file__).resolve().parents[2]
    for name in ("soakgate.toml", "Pulumi.yaml"):
        shutil.copy2(root / name, tmp_path / name)
    (tmp_path / "Pulumi.production.yaml").write_text(
        "config:\n  soakgate:hosts:\n    - ssh://deploy@10.0.0.21\n    - ssh://deploy@10.0.0.22\n"
    )
    return load_project(tmp_path)


def test_a_stage_on_ssh_hosts_gets_one_engine_per_host_and_none_of_this_machine(
    tmp_path: Path,
) -> None:
    from soakgate.adapters.stage.host_io import SshHost
    from soakgate.adapters.stage.hosts_engine import HostsEngine
    from soakgate.adapters.stage.stages import EngineStages

    engine = EngineStages(ssh_project(tmp_path)).engine("production")
    assert isinstance(engine, HostsEngine)
    assert list(engine.engines) == ["10.0.0.21", "10.0.0.22"]
    for host, one in engine.engines.items():
        assert isinstance(one.io, SshHost) and one.io.label == host  # nothing local
        # the proxy's files live on the host, under its user's login directory
        assert str(one.conf_dir) == ".soakgate/default/stages/production/proxy"
        with pytest.raises(SoakgateError, match="has no local engine"):
            _ = one.light


def test_known_hosts_lines_openssh_skips_do_not_break_the_others(tmp_path: Path) -> None:
    import soakgate

    soakgate.allow_ssh()
    import paramiko

    from soakgate.adapters.ssh.host_keys import load_known_hosts

    key = paramiko.RSAKey.generate(1024)
    kind, blob = key.get_name(), key.get_base64()
    known = tmp_path / "known_hosts"
    known.write_text(
        "# a comment\n"
        "@cert-authority *.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDEAD\n"
        "@revoked * ssh-ed25519 AAAArevokedkey\n"
        "garbage-without-a-key\n"
        f"[10.0.0.22]:2222 {kind} {blob}\n"
    )
    keys = paramiko.HostKeys()
    revoked = load_known_hosts(keys, [known])
    assert revoked == {"AAAArevokedkey"}
    assert keys.lookup("[10.0.0.22]:2222") is not None
    assert keys.lookup("10.0.0.22") is None


def test_engine_refusals_and_cut_streams_are_not_called_ssh_down() -> None:
    import docker.errors
    import urllib3.exceptions

    refused = ssh_failure(HOST, docker.errors.APIError("400 Client Error", explanation="too old"))
    assert refused.message == "the Docker engine on 10.0.0.21:22 refused: too old"
    assert not isinstance(refused, HostUnreachable)
    cut = ssh_failure(HOST, urllib3.exceptions.ProtocolError("Connection broken"))
    assert isinstance(cut, HostUnreachable)
    assert cut.message.startswith("lost the SSH connection to 10.0.0.21:22 mid-operation")


def test_a_changed_key_on_another_port_names_that_port() -> None:
    import soakgate

    soakgate.allow_ssh()
    import paramiko

    offered = paramiko.RSAKey.generate(1024)
    known = paramiko.RSAKey.generate(1024)
    failure = ssh_failure(OTHER, paramiko.BadHostKeyException("10.0.0.22", offered, known))
    assert "ssh-keygen -R '[10.0.0.22]:2222'" in failure.hint


def test_the_ssh_socket_sends_small_writes_at_once_and_a_non_tcp_one_is_left_alone() -> None:
    """TCP_NODELAY on the SSH connection's socket: without it a POST's body waits on the
    host's delayed ACK (about 40 ms a call); a proxy command's pipe has no such option."""
    import socket

    from soakgate.adapters.ssh.connection import _no_delay

    listener = socket.create_server(("127.0.0.1", 0))
    with listener, socket.create_connection(listener.getsockname()) as tcp:
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        _no_delay(tcp)
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    left, right = socket.socketpair()
    with left, right:
        _no_delay(left)  # a Unix socket: no TCP option, and no error
    _no_delay(object())  # paramiko's ProxyCommand is no socket at all
