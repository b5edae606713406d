"""Docker hosts reached over SSH, made on this machine for the tests: each is a network
namespace of its own (a veth pair, a /30 of its own) holding a Docker engine (NetnsEngine) and
an sshd from Debian's openssh-server listening only on the namespace's address, for an
unprivileged user of its own whose sessions get that engine (``SetEnv DOCKER_HOST=…``).
root may log in too, with the test's key only (the host playbook prepares a host as root);
root on such a "host" is root on this machine, so what it changes must be paths of the test's.

    with SshHosts.make(2) as hosts:          # 10.213.K.2, users sgk<token>d<K>
        hosts.env                            # SOAKGATE_SSH_KNOWN_HOSTS / _IDENTITY for soakgate
        hosts.ssh_config                     # for ssh -F, Ansible and testinfra (root too)
        hosts[0].url                         # ssh://sgk…d1@10.213.1.2
        hosts[0].engine.client               # the engine, through its socket (for checks)
        hosts[0].stop_sshd() / start_sshd()  # a host that is down, and back

Everything is removed afterwards, also when a step failed: sshd and its sessions, the engine,
the namespace with its veth, the users with their homes. Traffic goes only to 10.213.K.0/30.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .netns_engine import EngineFailed, NetnsEngine, NetnsUnavailable, _tool

SSHD = "/usr/sbin/sshd"
SSH_START_TIMEOUT = 15.0
SUBNET = "10.213"  # 10.213.K.0/30 per host; not routed on this machine
LOG_ROTATION = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
LEFTOVER_USER = re.compile(r"^sgk[0-9a-f]{6}d[0-9]+$")

SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {root}/ssh_host_ed25519_key
PidFile {root}/sshd.pid
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes yes
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers {user} root
MaxSessions 64
MaxStartups 30:30:100
ClientAliveInterval 5
ClientAliveCountMax 3
AllowTcpForwarding local
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
Match User {user}
    SetEnv DOCKER_HOST=unix://{socket} PATH={root}/bin:/usr/bin:/bin
Match User root
    AuthorizedKeysFile {root_keys}
"""


DOCKER_WRAPPER = """#!/bin/sh
# The test host's docker: /usr/bin/docker, except that with {switch} present the Docker SDK's
# way in (docker system dial-stdio) fails, as when the API does not answer over SSH.
if [ "$1" = system ] && [ "$2" = dial-stdio ] && [ -e {switch} ]; then
  echo "the Docker API does not answer (test switch)" >&2
  exit 1
fi
exec /usr/bin/docker "$@"
"""


def sh(*argv: str | Path, timeout: float = 30.0) -> str:
    """Run a set-up command; raise NetnsUnavailable with its stderr when it fails."""
    result = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise NetnsUnavailable(
            f"{' '.join(map(str, argv))} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


class SshEngine(NetnsEngine):
    """A NetnsEngine whose socket belongs to the host's user's group (``--group``)."""

    group: str = ""

    def dockerd_argv(self) -> list[str]:
        return [*super().dockerd_argv(), "--group", self.group]


@dataclass
class SshHost:
    """One test host: its engine, its sshd, its user and address."""

    index: int
    engine: SshEngine
    user: str
    address: str
    veth: str
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.address}"

    @property
    def host_key(self) -> Path:
        return self.engine.root / "ssh_host_ed25519_key"

    @property
    def sshd_log(self) -> Path:
        return self.engine.root / "sshd.log"

    @property
    def api_switch(self) -> Path:
        """While this file exists, the host's ``docker system dial-stdio`` (the Docker SDK's
        way in over SSH) fails as if the API were unreachable; every other docker command,
        and SSH, still work (the host's ``docker`` wrapper, first on its user's PATH)."""
        return self.engine.root / "no-dial-stdio"

    def break_api(self) -> None:
        self.api_switch.touch()

    def mend_api(self) -> None:
        self.api_switch.unlink(missing_ok=True)

    def known_hosts_line(self) -> str:
        kind, key = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"{self.address} {kind} {key}\n"

    def start_sshd(self, timeout: float = SSH_START_TIMEOUT) -> None:
        """Start this host's sshd and wait for its banner on ADDRESS:22."""
        if self.sshd is not None and self.sshd.poll() is None:
            return
        with self.sshd_log.open("ab") as log:
            self.sshd = self.engine.popen_in_netns(
                [SSHD, "-D", "-e", "-f", str(self.engine.root / "sshd_config")], stdout=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise EngineFailed(f"sshd of {self.address} exited: {self.log_tail()}")
            if banner(self.address) is not None:
                return
            time.sleep(0.1)
        raise EngineFailed(f"sshd of {self.address} gave no banner in {timeout:.0f}s")

    def stop_sshd(self) -> None:
        """Stop sshd and every session it holds (a host whose SSH is down)."""
        if self.sshd is not None and self.sshd.poll() is None:
            os.killpg(self.sshd.pid, signal.SIGTERM)
            try:
                self.sshd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.sshd.pid, signal.SIGKILL)
                self.sshd.wait(timeout=5)
        kill_user(self.user)

    def log_tail(self, lines: int = 10) -> str:
        try:
            return " | ".join(self.sshd_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no sshd log)"


def banner(address: str, port: int = 22, timeout: float = 1.0) -> bytes | None:
    """The SSH server's first line on ADDRESS:PORT, or None when nothing answers."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            line = sock.recv(64)
    except OSError:
        return None
    return line if line.startswith(b"SSH-") else None


def uid_pids(uid: int) -> list[int]:
    """Processes running as ``uid`` (found by scanning /proc, that uid only)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found


def kill_user(user: str, timeout: float = 5.0) -> None:
    """SIGKILL every process of ``user`` and wait until they are gone."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    deadline = time.monotonic() + timeout
    while (pids := uid_pids(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


@dataclass
class SshHosts:
    """The test's SSH hosts and the client side's files (key, known_hosts, ssh_config)."""

    token: str
    base: Path  # client side: id_ed25519, known_hosts, ssh_config
    hosts: list[SshHost] = field(default_factory=list)

    def __getitem__(self, index: int) -> SshHost:
        return self.hosts[index]

    def __iter__(self) -> Iterator[SshHost]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def identity(self) -> Path:
        return self.base / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.base / "ssh_config"

    @property
    def root_keys(self) -> Path:
        """root's authorized keys for these sshds: root-owned, outside /tmp (StrictModes
        refuses a path under a world-writable directory), never /root/.ssh."""
        return Path("/run") / f"sg-ssh-{self.token}" / "root_authorized_keys"

    @property
    def env(self) -> dict[str, str]:
        """What soakgate is given to reach these hosts (never the user's own ~/.ssh)."""
        return {
            "SOAKGATE_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "SOAKGATE_SSH_IDENTITY": str(self.identity),
        }

    @property
    def urls(self) -> list[str]:
        return [host.url for host in self.hosts]

    # --- making and removing -----------------------------------------------------------------
    @classmethod
    def make(cls, count: int, *, log_rotation: bool = False) -> SshHosts:
        """Make ``count`` hosts, each with engine and sshd running; removed by ``close``. With
        ``log_rotation`` the engines start with it in force, as docker-host.yml leaves them."""
        for tool in ("useradd", "userdel", "ssh-keygen", SSHD):
            _tool(tool)
        if os.geteuid() != 0:
            raise NetnsUnavailable("the SSH test hosts need root (namespaces, users)")
        token = uuid.uuid4().hex[:6]
        made = cls(token, Path(tempfile.mkdtemp(prefix=f"sg-ssh-{token}-", dir="/tmp")))
        try:
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sg-test", "-f", made.identity)
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            made.root_keys.parent.mkdir(mode=0o755)
            (made.root_keys.parent / "owner").write_text(str(os.getpid()))
            made.root_keys.write_text(made.identity.with_suffix(".pub").read_text())
            made.root_keys.chmod(0o600)
            for index in range(1, count + 1):
                made._make_host(index, log_rotation)
            made.known_hosts.write_text("".join(host.known_hosts_line() for host in made))
            made.ssh_config.write_text(
                f"Host {SUBNET}.*.2\n  UserKnownHostsFile {made.known_hosts}\n"
                f"  IdentityFile {made.identity}\n  IdentitiesOnly yes\n"
                "  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n"
            )
        except BaseException:
            made.close()
            raise
        return made

    def _make_host(self, index: int, log_rotation: bool = False) -> None:
        """Make host ``index`` and add it to ``hosts`` (from its first step on, so that
        ``close`` removes what a failed step leaves)."""
        user = f"sgk{self.token}d{index}"
        engine = SshEngine.create()
        host = SshHost(index, engine, user, f"{SUBNET}.{index}.2", f"sgk{self.token}h{index}")
        self.hosts.append(host)
        sh("useradd", "--system", "--create-home", "--shell", "/bin/sh", "-p", "*", user)
        engine.group = user
        engine.root.chmod(0o711)
        peer = f"sgk{self.token}n{index}"
        sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", engine.netns)
        sh("ip", "addr", "add", f"{SUBNET}.{index}.1/30", "dev", host.veth)
        sh("ip", "link", "set", host.veth, "up")
        sh("ip", "-n", engine.netns, "addr", "add", f"{host.address}/30", "dev", peer)
        sh("ip", "-n", engine.netns, "link", "set", peer, "up")
        if log_rotation:
            (engine.root / "daemon.json").write_text(json.dumps(LOG_ROTATION))
        engine.start()
        home = Path(pwd.getpwnam(user).pw_dir)
        dot_ssh = home / ".ssh"
        dot_ssh.mkdir(mode=0o700)
        keys = dot_ssh / "authorized_keys"
        keys.write_text(self.identity.with_suffix(".pub").read_text())
        keys.chmod(0o600)
        for path in (dot_ssh, keys):
            shutil.chown(path, user, user)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", host.host_key)
        wrapper = engine.root / "bin" / "docker"
        wrapper.parent.mkdir(mode=0o755)
        wrapper.write_text(DOCKER_WRAPPER.format(switch=host.api_switch))
        wrapper.chmod(0o755)
        (engine.root / "sshd_config").write_text(
            SSHD_CONFIG.format(
                address=host.address,
                root=engine.root,
                user=user,
                socket=engine.socket,
                root_keys=self.root_keys,
            )
        )
        host.start_sshd()

    def close(self) -> None:
        """Remove every host (each step bounded, all run), then raise the first problem."""
        problems: list[str] = []
        for host in reversed(self.hosts):
            for step in (
                host.stop_sshd,
                host.engine.close,
                lambda host=host: _remove_link(host.veth),
                lambda host=host: _remove_user(host.user),
            ):
                try:
                    step()
                except (EngineFailed, NetnsUnavailable, OSError, subprocess.SubprocessError) as exc:
                    problems.append(str(exc))
        self.hosts.clear()
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.root_keys.parent, ignore_errors=True)
        if problems:
            raise EngineFailed("; ".join(problems))

    def __enter__(self) -> SshHosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_link(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        sh("ip", "link", "del", name)


def _remove_user(user: str) -> None:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return
    kill_user(user)
    sh("userdel", "--remove", user, timeout=15)


def _live_tokens() -> set[str]:
    """Tokens of test hosts whose maker still runs (its pid in /run/sg-ssh-<token>/owner)."""
    live = set()
    for keys in Path("/run").glob("sg-ssh-*"):
        try:
            owner = int((keys / "owner").read_text())
            os.kill(owner, 0)
        except (OSError, ValueError):
            continue
        live.add(keys.name.removeprefix("sg-ssh-"))
    return live


def sweep_leftovers() -> Sequence[str]:
    """Remove users, links and key directories a crashed earlier run left (matched by their
    names; those of a run still going, by its owner pid, are left alone)."""
    live = _live_tokens()
    removed = []
    for entry in pwd.getpwall():
        if LEFTOVER_USER.match(entry.pw_name) and entry.pw_name[3:9] not in live:
            with contextlib.suppress(NetnsUnavailable):
                _remove_user(entry.pw_name)
                removed.append(entry.pw_name)
    for keys in Path("/run").glob("sg-ssh-*"):
        if keys.name.removeprefix("sg-ssh-") not in live:
            shutil.rmtree(keys, ignore_errors=True)
            removed.append(str(keys))
    for link in Path("/sys/class/net").iterdir():
        if re.match(r"^sgk[0-9a-f]{6}h[0-9]+$", link.name) and link.name[3:9] not in live:
            with contextlib.suppress(NetnsUnavailable):
                _remove_link(link.name)
                removed.append(link.name)
    return removed
