"""Fakes of soakgate's ports for unit tests. They fail loudly on anything unexpected."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from soakgate.core.doctor import HOST_COMMANDS, PULUMI_VERSION, Readings
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import Switch, UpstreamTarget, render_upstream
from soakgate.core.release import Release
from soakgate.core.rollout import Rollout
from soakgate.core.slots import EMPTY, Slot, SlotTable
from soakgate.errors import DeployFailed, LockHeld, SwitchRefused


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
            sshd="/usr/sbin/sshd",
            system_ansible="/usr/bin/ansible-playbook",
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


class FakeHostIO:
    """The host side of a fake engine: nothing to reach, nothing to guard."""

    label = ""
    local = True

    def guarded(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class FakeStageEngine:
    """One stage's slots and proxy in memory. ``run(slot, digest)`` puts a release in a slot;
    ``switch`` is the same compare-and-swap as the real one (``SwitchRefused`` when the
    upstream is not ``expect`` or the slot is in ``unhealthy``)."""

    def __init__(self, stage: str, proxy_port: int = 18080) -> None:
        self.stage = stage
        self.names = StageNames(stage)
        self.conf_dir = Path(f"/fake/{stage}/proxy")
        self.proxy_port = proxy_port
        self.table = EMPTY
        self.unhealthy: set[str] = set()
        self.switches: list[tuple[str, str]] = []
        self.upstream_broken = False
        self.io = FakeHostIO()

    def run(self, slot: str, digest: str | None, *, running: bool = True) -> None:
        container = None if digest is None else f"id-{self.names.app(slot)}"
        self.table = self.table.with_slot(Slot(slot, container, digest, "spec", running))

    def activate(self, slot: str | None) -> None:
        self.table = replace(self.table, active=slot)

    def read_slots(self) -> SlotTable:
        return self.table

    def upstream(self) -> UpstreamTarget | None:
        active = self.table.active_slot
        if self.upstream_broken or active is None or active.digest is None:
            return None
        return UpstreamTarget(active.name, self.names.app(active.name), 8000, active.digest)

    def upstream_text(self) -> str | None:
        target = self.upstream()
        if target is None:
            return "garbage" if self.upstream_broken else None
        return render_upstream(target)

    def address(self, name: str) -> str:
        return f"10.0.0.{1 + ('green' in name)}"

    def switch(self, move: Switch) -> float:
        if move.expect is not None and self.upstream() != move.expect:
            raise SwitchRefused(f"the {self.stage} proxy changed meanwhile: nothing switched")
        if move.slot in self.unhealthy or self.table.slot(move.slot).digest != move.digest:
            raise SwitchRefused(f"the {move.slot} slot of {self.stage} is not healthy")
        self.activate(move.slot)
        self.switches.append((move.slot, move.digest))
        return 0.01

    def converge(self, release: str, port: int, health_path: str) -> list[str]:
        return []  # one engine: never split


class FakeStages:
    """The stages without an engine: a :class:`FakeStageEngine` per stage named in
    ``engines``, images present from ``images`` (their ENTRYPOINT and CMD from ``commands``,
    else ``python -m app``), a lock that refuses a second holder."""

    def __init__(self, engines: dict[str, FakeStageEngine], images: set[str] | None = None):
        self.engines = engines
        self.images = set(images or ())
        self.taken: dict[str, int] = {}  # stage -> port another process holds
        self.held: set[str] = set()
        self.locks: list[str] = []
        self.built: list[tuple[str, list[str], str]] = []
        self.commands: dict[str, tuple[list[str], list[str]]] = {}  # digest -> config

    def engine(self, stage: str, warn: Callable[[str], None] | None = None) -> FakeStageEngine:
        if stage not in self.engines:
            raise AssertionError(f"FakeStages: no engine for stage {stage!r}")
        return self.engines[stage]

    @contextlib.contextmanager
    def lock(self, stage: str, command: str, wait: float | None) -> Iterator[object]:
        if stage in self.held:
            raise LockHeld(f"stage {stage} is locked by another command")
        self.held.add(stage)
        self.locks.append(command)
        try:
            yield {}
        finally:
            self.held.discard(stage)

    def image_present(self, digest: str) -> bool:
        return digest in self.images

    def port_taken(self, stage: str) -> int | None:
        return self.taken.get(stage)

    def build_variant(self, digest: str, lines: list[str], tag: str) -> tuple[str, int]:
        self.built.append((digest, lines, tag))
        variant = "sha256:" + hashlib.sha256(f"{digest}{lines}".encode()).hexdigest()
        self.images.add(variant)
        return variant, 1234

    def image_command(self, digest: str) -> tuple[list[str], list[str]]:
        if digest not in self.images:
            raise AssertionError(f"FakeStages: no image {digest}")
        return self.commands.get(digest, ([], ["python", "-m", "app"]))


class FakeStacks:
    """Pulumi stacks in memory. ``up`` does what the BlueGreen resource does to the fake
    engine (switch to a warm slot running the release, else start it in the idle slot and
    switch) unless ``fail`` holds an error message; the config is put back on failure."""

    def __init__(self, stages: FakeStages, fail: str | None = None) -> None:
        self.stages = stages
        self.fail = fail
        self.configs: dict[str, dict[str, Any]] = {}
        self.ups: list[tuple[str, str]] = []
        self.rollouts: list[Rollout | None] = []  # what each up was given

    def config(self, stage: str) -> dict[str, Any]:
        return dict(self.configs.get(stage, {}))

    def up(
        self,
        stage: str,
        release: Release,
        on_event: Callable[[Any], None] | None = None,
        warn: Callable[[str], None] = lambda message: None,
        *,
        rollout: Rollout | None = None,
    ) -> dict[str, Any]:
        self.ups.append((stage, release.digest))
        self.rollouts.append(rollout)
        if self.fail is not None:
            raise DeployFailed(f"deploy of {release.short} to {stage} failed: {self.fail}")
        engine = self.stages.engine(stage)
        table = engine.read_slots()
        active = table.active_slot
        if active is None or active.digest != release.digest:
            idle = table.inactive_name
            if table.slot(idle).digest != release.digest:
                engine.run(idle, release.digest)
            engine.activate(idle)
        self.configs.setdefault(stage, {})["release"] = release.digest
        return {"release": release.digest, "active": engine.read_slots().active}


class Clock:
    """Epoch seconds that move only when told: ``sleep`` (the monitor's) or ``now += s``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class TickingClock:
    """A datetime clock that moves ``step`` seconds on every reading (the ledger's)."""

    def __init__(self, start: datetime, step: float = 1.0) -> None:
        self.now = start
        self.step = timedelta(seconds=step)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


class FakeEvidenceEngine(FakeStageEngine):
    """A :class:`FakeStageEngine` whose containers can also be read for an incident: each
    container that runs has an inspect document (its variables from ``env``) and log lines
    (``logs[name]``); ``broken`` makes both reads fail with that message, ``delay`` makes them
    take that long (``wait`` is the sleep: a test's own clock, or time.sleep)."""

    def __init__(self, stage: str, proxy_port: int = 18080) -> None:
        super().__init__(stage, proxy_port)
        self.env: list[str] = []
        self.logs: dict[str, list[str]] = {}
        self.broken: str | None = None
        self.delay = 0.0
        self.wait: Callable[[float], object] = lambda seconds: None
        self.reads: list[str] = []

    def _read(self, name: str) -> Slot | None:
        self.reads.append(name)
        if self.delay:
            self.wait(self.delay)
        if self.broken is not None:
            raise DeployFailed(self.broken)
        return next(
            (
                s
                for s in (self.table.blue, self.table.green)
                if self.names.app(s.name) == name and s.digest
            ),
            None,
        )

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        slot = self._read(name)
        if slot is None:
            return None
        return {
            "Id": slot.container,
            "Name": f"/{name}",
            "Image": slot.digest,
            "RestartCount": 3,
            "State": {"Status": "running", "ExitCode": 0, "OOMKilled": False},
            "Config": {"Env": [*self.env, f"SOAKGATE_RELEASE={slot.digest}"], "Labels": {}},
        }

    def log_tail(self, name: str, lines: int) -> list[str]:
        if self._read(name) is None:
            raise DeployFailed(f"container {name} is gone")
        return self.logs.get(name, [])[-lines:]
