"""What the Docker engine says about a container: restarts, OOM kill, memory and CPU.

    reader = EngineStats()                        # DOCKER_HOST or the local socket, 3 s timeout
    reader.ping()                                 # False while the engine does not answer
    reader.read("app-staging-blue", t=time.time())  # EngineSample, or None: no such container

Cheap enough for an engine sample every 10 s: the restart count, ``OOMKilled`` and the running
state come from one inspect (about 3 ms); memory and CPU come from the container's cgroup files
when the engine runs on this host (found through ``/proc/<pid>/cgroup``, cgroup v1 or v2; about
0.1 ms). Where they cannot be read (a remote engine), one streaming stats request per container
is kept open in a daemon thread and its newest frame is used: the API's one-shot
``stats(stream=False)`` takes 1-2 s on engine 20.10 because it waits for the next collection.

Memory is counted as ``docker stats`` does: usage minus inactive file cache. CPU is a percentage
of one core over the time since the previous read (the first read averages since the start).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from soakgate.core.soak import EngineSample
from soakgate.errors import DockerError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC = Path("/proc")
# A container with no health check of its own counts as starting for this long after it started
# (one with a health check, until Docker's status leaves "starting").
UNCHECKED_START_SECONDS = 30.0
_ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


class EngineDown(DockerError):
    """The Docker engine did not answer (a gap in the soak, not a failure of the release)."""


# --- pure parsing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupFiles:
    """Where one container's memory and CPU counters live."""

    version: int  # 1 or 2
    memory: Path  # directory of the memory controller
    cpu: Path  # directory of cpuacct (v1) or the unified directory (v2)


def cgroup_files(
    proc_cgroup: str, container_id: str, root: Path = CGROUP_ROOT
) -> CgroupFiles | None:
    """The cgroup directories of a process from its ``/proc/<pid>/cgroup`` text.

    None unless the paths name ``container_id`` (another host's pid, or a reused one).

        files = cgroup_files("4:memory:/docker/abc\\n2:cpuacct:/docker/abc\\n", "abc")
        files.memory      # /sys/fs/cgroup/memory/docker/abc
    """
    memory: Path | None = None
    cpu: Path | None = None
    unified: Path | None = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or container_id not in parts[2]:
            continue
        _, controllers, path = parts
        relative = path.lstrip("/")
        names = controllers.split(",")
        if controllers == "":
            unified = root / relative
        if "memory" in names:
            memory = root / controllers / relative
        if "cpuacct" in names:
            cpu = root / controllers / relative
    if memory is not None and cpu is not None:
        return CgroupFiles(1, memory, cpu)
    if unified is not None:
        return CgroupFiles(2, unified, unified)
    return None


def stat_value(stat_text: str, key: str) -> int:
    """One counter of a ``memory.stat`` / ``cpu.stat`` file; 0 when absent."""
    for line in stat_text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def working_set(usage: int, memory_stat: str, version: int) -> int:
    """Usage minus inactive file cache, as ``docker stats`` shows it."""
    key = "total_inactive_file" if version == 1 else "inactive_file"
    inactive = stat_value(memory_stat, key)
    return usage - inactive if inactive < usage else usage


def frame_memory(frame: dict[str, Any]) -> int:
    """Memory of a stats API frame, as ``docker stats`` shows it."""
    memory = frame.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    inactive = int(stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0)
    return usage - inactive if inactive < usage else usage


def frame_cpu_percent(frame: dict[str, Any]) -> float:
    """CPU % of one core of a stats API frame (``docker stats``' formula)."""
    cpu = frame.get("cpu_stats") or {}
    pre = frame.get("precpu_stats") or {}
    cpu_delta = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - int(
        (pre.get("cpu_usage") or {}).get("total_usage") or 0
    )
    system_delta = int(cpu.get("system_cpu_usage") or 0) - int(pre.get("system_cpu_usage") or 0)
    cpus = int(
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    )
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return 100.0 * cpu_delta / system_delta * cpus


def _started(attrs: dict[str, Any]) -> float | None:
    text = str((attrs.get("State") or {}).get("StartedAt") or "")
    if not text or text.startswith("0001-"):
        return None
    head, _, fraction = text.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(head + "+00:00")
    except ValueError:
        return None
    return moment.timestamp() + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def container_starting(attrs: dict[str, Any], now: float | None = None) -> bool:
    """Whether a container (its inspect ``attrs``) has not shown itself ready since it
    (re)started: its health check still "starting", or, without a health check, started
    less than :data:`UNCHECKED_START_SECONDS` before ``now`` (default: the wall clock's)."""
    health = (attrs.get("State") or {}).get("Health")
    if health:
        return bool(health.get("Status") == "starting")
    started = _started(attrs)
    moment = time.time() if now is None else now
    return started is not None and moment - started < UNCHECKED_START_SECONDS


# --- the reader ------------------------------------------------------------------------------


class _StatsStream:
    """One open ``stats(stream=True)`` request; keeps the newest frame."""

    def __init__(self, client: docker.DockerClient, container_id: str) -> None:
        self.latest: dict[str, Any] | None = None
        self.closed = False
        self._client = client
        self._id = container_id
        self._thread = threading.Thread(target=self._follow, daemon=True, name="engine-stats")
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(*_ENGINE_ERRORS):
            frames: Iterator[dict[str, Any]] = self._client.api.stats(
                self._id, stream=True, decode=True
            )
            for frame in frames:
                if self.closed:
                    break
                self.latest = frame
        self.closed = True


class EngineStats:
    """Reads engine samples of containers; one instance per monitor (it keeps CPU counters)."""

    def __init__(
        self,
        timeout: float = 3.0,
        cgroup_root: Path = CGROUP_ROOT,
        connect: Callable[[], docker.DockerClient] | None = None,
    ) -> None:
        """``connect``: the engine's client (default: DOCKER_HOST or the local socket), asked
        again after a failure; an SSH host's comes from its connection."""
        self.timeout = timeout
        self.connect = connect or (lambda: docker.from_env(timeout=self.timeout))
        self.cgroup_root = cgroup_root
        self._client: docker.DockerClient | None = None
        self._cgroups: dict[str, CgroupFiles | None] = {}
        self._cpu: dict[str, tuple[int, float]] = {}  # id -> (usage ns, monotonic s)
        self._streams: dict[str, _StatsStream] = {}

    def client(self) -> docker.DockerClient:
        """A client with a short timeout, made on first use (and again after a failure)."""
        if self._client is None:
            try:
                self._client = self.connect()
            except _ENGINE_ERRORS as exc:
                raise EngineDown(f"the Docker engine does not answer ({exc})") from exc
        return self._client

    def ping(self) -> bool:
        """True when the engine answers now."""
        try:
            return bool(self.client().ping())
        except (EngineDown, *_ENGINE_ERRORS):
            self._client = None
            return False

    def read(self, container: str, t: float) -> EngineSample | None:
        """An engine sample of ``container`` (name or id) at ``t``; None when there is none.

        Raises :class:`EngineDown` when the engine does not answer.
        """
        try:
            attrs = self.client().api.inspect_container(container)
        except docker.errors.NotFound:
            return None
        except _ENGINE_ERRORS as exc:
            self._client = None
            raise EngineDown(f"the Docker engine does not answer ({exc})") from exc
        state = attrs.get("State") or {}
        running = bool(state.get("Running")) and not state.get("Restarting")
        memory, cpu = self._usage(attrs) if running else (0, 0.0)
        return EngineSample(
            t=t,
            restarts=int(attrs.get("RestartCount") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            memory_bytes=memory,
            cpu_percent=round(cpu, 3),
            running=running,
            starting=running and container_starting(attrs),
        )

    def _usage(self, attrs: dict[str, Any]) -> tuple[int, float]:
        container_id = str(attrs["Id"])
        files = self._cgroup(container_id, int((attrs.get("State") or {}).get("Pid") or 0))
        if files is not None:
            try:
                return self._from_cgroup(container_id, files, attrs)
            except (OSError, ValueError):
                self._cgroups.pop(container_id, None)
        return self._from_stream(container_id)

    def _cgroup(self, container_id: str, pid: int) -> CgroupFiles | None:
        if container_id not in self._cgroups:
            try:
                text = (PROC / str(pid) / "cgroup").read_text() if pid > 0 else ""
            except OSError:
                text = ""
            files = cgroup_files(text, container_id, self.cgroup_root)
            if files is not None and not files.memory.is_dir():
                files = None
            self._cgroups[container_id] = files
        return self._cgroups[container_id]

    def _from_cgroup(
        self, container_id: str, files: CgroupFiles, attrs: dict[str, Any]
    ) -> tuple[int, float]:
        if files.version == 1:
            usage = int((files.memory / "memory.usage_in_bytes").read_text())
            cpu_ns = int((files.cpu / "cpuacct.usage").read_text())
        else:
            usage = int((files.memory / "memory.current").read_text())
            cpu_ns = 1000 * stat_value((files.cpu / "cpu.stat").read_text(), "usage_usec")
        memory = working_set(usage, (files.memory / "memory.stat").read_text(), files.version)
        now = time.monotonic()
        previous = self._cpu.get(container_id)
        self._cpu[container_id] = (cpu_ns, now)
        if previous is not None and now > previous[1] and cpu_ns >= previous[0]:
            return memory, 100.0 * (cpu_ns - previous[0]) / ((now - previous[1]) * 1e9)
        started = _started(attrs)
        elapsed = time.time() - started if started is not None else 0.0
        return memory, 100.0 * cpu_ns / (elapsed * 1e9) if elapsed > 0 else 0.0

    def _from_stream(self, container_id: str) -> tuple[int, float]:
        stream = self._streams.get(container_id)
        if stream is None or stream.closed:
            stream = self._streams[container_id] = _StatsStream(self.client(), container_id)
        deadline = time.monotonic() + 2.5  # the first frame comes after about a second
        while stream.latest is None and not stream.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        frame = stream.latest
        if frame is None:
            return 0, 0.0
        return frame_memory(frame), frame_cpu_percent(frame)

    def close(self) -> None:
        """Let go of streams and the client."""
        for stream in self._streams.values():
            stream.closed = True
        self._streams.clear()
        if self._client is not None:
            with contextlib.suppress(*_ENGINE_ERRORS):
                self._client.close()
            self._client = None
