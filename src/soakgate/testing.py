"""Fakes of soakgate's ports for unit tests. They fail loudly on anything unexpected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from soakgate.core.doctor import HOST_COMMANDS, PULUMI_VERSION, Readings


class FakeToolchain:
    """A toolchain probe answering from fixed readings; every part present unless overridden."""

    def __init__(self, **overrides: Any) -> None:
        healthy = Readings(
            engine_version="20.10.24",
            pulumi_version=PULUMI_VERSION,
            language_host="/project/.venv/bin/pulumi-language-python",
            provider_plugin="/project/.soakgate/bin/pulumi-resource-pulumi-python",
            venv_python="3.11.7",
            free_disk_bytes=50 * 1024**3,
            base_images=("soakgate/python:3.12", "soakgate/python:3.14"),
            debootstrap="/usr/sbin/debootstrap",
            archive_keyring="/usr/share/keyrings/debian-archive-keyring.gpg",
            cpython312="3.12.1 at /root/.pyenv/versions/3.12.1",
            host_commands={name: f"/usr/bin/{name}" for name in HOST_COMMANDS},
            chromium="/usr/bin/chromium",
        )
        unknown = set(overrides) - set(Readings.__dataclass_fields__)
        if unknown:
            raise AssertionError(f"FakeToolchain: no such reading(s): {sorted(unknown)}")
        self.readings = replace(healthy, **overrides)
        self.calls: list[Path] = []

    def __call__(self, project: Path) -> Readings:
        self.calls.append(project)
        return self.readings


class FakeChild:
    """A spawned process that stays alive until :meth:`FakeProcesses.terminate` or ``exit``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def exit(self, code: int) -> None:
        self.returncode = code


class FakeProcesses:
    """Processes without processes: ``spawn`` gives pids from 40001 on and calls ``on_spawn``
    (which plays the monitor: writes a heartbeat, exits, or does nothing); ``alive`` is true
    for the pids given in ``alive`` and the children not terminated or exited. Every call is
    kept in ``calls``; a pid it never heard of is refused by ``terminate``."""

    def __init__(
        self,
        alive: dict[int, bool] | None = None,
        on_spawn: Callable[[FakeChild, list[str]], None] | None = None,
        exits_on_term: bool = True,
    ) -> None:
        self.monitors = dict(alive or {})  # pid -> is a soak monitor
        self.children: dict[int, FakeChild] = {}
        self.on_spawn = on_spawn
        self.exits_on_term = exits_on_term
        self.calls: list[tuple[str, Any]] = []
        self.next_pid = 40001

    def spawn(self, argv: list[str], *, cwd: Path, log: Path) -> FakeChild:
        self.calls.append(("spawn", argv))
        child = FakeChild(self.next_pid)
        self.next_pid += 1
        self.children[child.pid] = child
        self.monitors[child.pid] = True
        if self.on_spawn is not None:
            self.on_spawn(child, argv)
        return child

    def alive(self, pid: int | None) -> bool:
        if pid is None:
            return False
        child = self.children.get(pid)
        if child is not None:
            return child.returncode is None
        return pid in self.monitors

    def terminate(self, pid: int) -> None:
        self.calls.append(("terminate", pid))
        if pid not in self.monitors and pid not in self.children:
            raise AssertionError(f"FakeProcesses: terminate of unknown pid {pid}")
        if not self.exits_on_term:
            return
        if pid in self.children:
            self.children[pid].exit(-15)
        self.monitors.pop(pid, None)

    def is_monitor(self, pid: int) -> bool:
        return self.monitors.get(pid, False)
