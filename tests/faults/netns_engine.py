"""A Docker engine of the test's own: its own network namespace, data root, exec root, socket
and containerd, so restarting it (as a host reboot would) disturbs no other work on the
machine's shared engine.

    engine = NetnsEngine.create()          # ip netns add sg-fault-<random>; lo up
    engine.start()                         # nsenter --net=/run/netns/NS dockerd ... -H unix://SOCK
    copy_images(main_client, engine.client, ["soakgate/proxy:nginx"])
    engine.run_in_netns([".venv/bin/soakgate", "status"], env={..., "DOCKER_HOST": engine.host})
    engine.restart()                       # SIGTERM, wait for exit, start again
    engine.close()                         # engine stopped, processes gone, dirs and netns removed

``ip netns exec`` is not used: it remounts /sys, which hides the cgroup mounts dockerd needs;
``nsenter --net=FILE`` enters the network namespace alone. With its own ``--exec-root`` the
test engine starts its own containerd (socket under the exec root) unless a system containerd
answers at /run/containerd/containerd.sock; it is given containerd namespaces of its own in
any case, so it never sees, nor restarts, the main engine's containers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0  # dockerd's own shutdown-timeout is 15 s; the containers' stop is 10 s
COMMAND_TIMEOUT = 30.0
SYSTEM_CONTAINERD = Path("/run/containerd/containerd.sock")


class NetnsUnavailable(RuntimeError):
    """A part the test engine needs is missing or not permitted (a set-up problem)."""


class EngineFailed(RuntimeError):
    """The test engine did not start or stop as asked (a result, with its log's tail)."""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise NetnsUnavailable(f"{name} is not installed (needed for the test's own engine)")
    return found


def _run(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def ping(socket_path: Path, timeout: float = 2.0) -> bool:
    """True when an engine answers ``GET /_ping`` with ``OK`` on ``socket_path``."""
    connection = _UnixConnection(str(socket_path), timeout)
    try:
        connection.request("GET", "/_ping")
        response = connection.getresponse()
        return response.status == 200 and response.read().strip() == b"OK"
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@dataclass
class NetnsEngine:
    """A dockerd in network namespace ``netns`` with everything it writes under ``root``."""

    netns: str
    root: Path
    tools: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)  # epoch of each start()'s launch
    _client: docker.DockerClient | None = None

    # --- making and removing -----------------------------------------------------------------
    @classmethod
    def create(cls) -> NetnsEngine:
        """Check the parts, make the namespace (loopback up) and the directories."""
        tools = {name: _tool(name) for name in ("ip", "nsenter", "dockerd", "umount")}
        if os.geteuid() != 0:
            raise NetnsUnavailable("the test's own engine needs root (network namespaces)")
        token = uuid.uuid4().hex[:8]
        root = Path(tempfile.mkdtemp(prefix=f"sg-fault-{token}-", dir="/tmp"))
        engine = cls(f"sg-fault-{token}", root, tools)
        try:
            for argv in (
                [tools["ip"], "netns", "add", engine.netns],
                [tools["ip"], "-n", engine.netns, "link", "set", "lo", "up"],
            ):
                result = _run(argv)
                if result.returncode != 0:
                    raise NetnsUnavailable(
                        f"{' '.join(argv)} failed ({result.returncode}):"
                        f" {result.stderr.strip() or result.stdout.strip()}"
                    )
            (root / "daemon.json").write_text("{}\n")  # never the host's /etc/docker/daemon.json
        except BaseException:
            engine.close()
            raise
        return engine

    def close(self) -> None:
        """Stop the engine, end every process of ours, unmount, remove the dirs and the netns.

        Runs to the end whatever fails on the way, then raises the first failure."""
        problems: list[str] = []
        if self.process is not None and self.process.poll() is None:
            try:
                self.stop()
            except EngineFailed as exc:
                problems.append(str(exc))
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        killed = self.kill_leftovers()
        if killed:
            problems.append(f"killed processes left by the test engine: {killed}")
        for mount in self.mounts():
            result = _run([self.tools["umount"], "-l", mount])
            if result.returncode != 0:
                problems.append(f"umount {mount}: {result.stderr.strip()}")
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            problems.append(f"{self.root} could not be removed")
        if self.netns_file.exists():
            result = _run([self.tools["ip"], "netns", "delete", self.netns])
            if result.returncode != 0:
                problems.append(f"ip netns delete {self.netns}: {result.stderr.strip()}")
        if problems:
            raise EngineFailed("; ".join(problems))

    # --- paths -------------------------------------------------------------------------------
    @property
    def netns_file(self) -> Path:
        return Path("/run/netns") / self.netns

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The DOCKER_HOST value of this engine."""
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def dockerd_argv(self) -> list[str]:
        return [
            self.tools["dockerd"],
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--config-file",
            str(self.root / "daemon.json"),
            "-H",
            self.host,
            "--containerd-namespace",
            self.netns,
            "--containerd-plugins-namespace",
            f"{self.netns}-plugins",
        ]

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Launch dockerd in the namespace; return the seconds until it answers a ping."""
        if self.running:
            raise EngineFailed("the test engine is already running")
        launched = time.monotonic()
        self.starts.append(time.time())
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [self.tools["nsenter"], f"--net={self.netns_file}", *self.dockerd_argv()],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = launched + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineFailed(
                    f"the test engine exited at start ({self.process.returncode}):\n"
                    + self.log_tail()
                )
            if ping(self.socket):
                return time.monotonic() - launched
            time.sleep(0.1)
        with contextlib.suppress(EngineFailed):
            self.stop()
        raise EngineFailed(
            f"the test engine did not answer within {timeout:.0f}s:\n" + self.log_tail()
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """SIGTERM dockerd (it stops its containers first) and wait for it to exit; return the
        seconds it took. Past ``timeout`` it is SIGKILLed and this raises."""
        process = self.process
        if process is None or process.poll() is not None:
            return 0.0
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise EngineFailed(
                f"the test engine did not stop within {timeout:.0f}s of SIGTERM (killed):\n"
                + self.log_tail()
            ) from None
        return time.monotonic() - began

    def restart(self) -> tuple[float, float]:
        """Stop then start, as a host reboot does: (seconds to stop, seconds to answer)."""
        return self.stop(), self.start()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.host, timeout=60)
        return self._client

    def netns_argv(self, argv: Sequence[str]) -> list[str]:
        return [self.tools["nsenter"], f"--net={self.netns_file}", *argv]

    def run_in_netns(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace (its loopback, its containers' addresses)."""
        return subprocess.run(
            self.netns_argv(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen_in_netns(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        cwd: Path | None = None,
        stdout: Any = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace, in a session of its own."""
        return subprocess.Popen(
            self.netns_argv(argv),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def holds(self, pid: int, mark: str) -> bool:
        """True when process ``pid`` is alive in our namespace with ``mark`` in its command
        line (so a pid the kernel has since reused is never signalled)."""
        try:
            same = os.stat(f"/proc/{pid}/ns/net").st_ino == self.netns_file.stat().st_ino
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return same and mark in cmdline and not _zombie(pid)

    # --- what is left --------------------------------------------------------------------------
    def leftover_pids(self) -> list[int]:
        """Processes of this engine still alive: any whose command line names our root or
        containerd namespace (dockerd, containerd, shims, docker-proxy), and their descendants
        (the containers' processes)."""
        marks = (str(self.root), self.netns)
        parents: dict[int, int] = {}
        ours: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                cmdline = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            if any(mark in cmdline for mark in marks):
                ours.add(pid)
        found = set(ours)
        for pid in parents:
            ancestor, seen = parents.get(pid), 0
            while ancestor and ancestor > 1 and seen < 64:
                if ancestor in ours:
                    found.add(pid)
                    break
                ancestor, seen = parents.get(ancestor), seen + 1
        return sorted(found - {os.getpid()})

    def kill_leftovers(self) -> list[int]:
        """SIGKILL what ``leftover_pids`` finds; return those pids."""
        pids = self.leftover_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (
            pids
            and time.monotonic() < deadline
            and any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids)
        ):
            time.sleep(0.1)
        return pids

    def mounts(self) -> list[str]:
        """Mount points under our root, deepest first."""
        found = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point == str(self.root) or point.startswith(f"{self.root}/"):
                    found.append(point)
        return sorted(found, key=len, reverse=True)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def copy_images(
    source: docker.DockerClient, target: docker.DockerClient, references: Iterable[str]
) -> dict[str, str]:
    """``docker save`` each reference from ``source`` and ``docker load`` it into ``target``;
    return {reference: image id}. Raises when an image arrives with another ID (the ID is the
    hash of the image's config: a release's digest must survive the copy)."""
    copied: dict[str, str] = {}
    for reference in references:
        image = source.images.get(reference)
        for message in target.api.load_image(image.save(named=reference)):
            if isinstance(message, dict) and message.get("error"):
                raise AssertionError(f"docker load of {reference}: {message['error']}")
        loaded = target.images.get(reference)
        if loaded.id != image.id:
            raise AssertionError(
                f"{reference}: loaded as {loaded.id}, saved as {image.id}: the ID changed"
            )
        copied[reference] = str(image.id)
    return copied


def describe(engine: NetnsEngine) -> str:
    """One line about the engine, for assertion messages."""
    return json.dumps({"netns": engine.netns, "root": str(engine.root), "host": engine.host})
