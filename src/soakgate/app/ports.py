"""The ports: what the use cases need from the world, named by role.

The adapters implement them (``soakgate.adapters``); ``soakgate.testing`` holds one fake of
each that fails loudly on an unexpected call. A use case takes its ports as arguments; the CLI
(the composition root) passes the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from soakgate.core.names import StageNames
from soakgate.core.project import Project
from soakgate.core.proxy_conf import Switch, UpstreamTarget
from soakgate.core.release import Release
from soakgate.core.rollout import Rollout
from soakgate.core.slots import SlotTable

Warn = Callable[[str], None]


class Child(Protocol):
    """A spawned process."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


class Processes(Protocol):
    """Operating-system processes: the soak monitor runs as one."""

    def spawn(self, argv: list[str], *, cwd: Path, log: Path) -> Child: ...

    def alive(self, pid: int | None) -> bool: ...

    def terminate(self, pid: int) -> None: ...

    def is_monitor(self, pid: int) -> bool: ...


class StageEngine(Protocol):
    """One stage's blue/green slots and its proxy, as they really are on the engine."""

    stage: str
    conf_dir: Path
    proxy_port: int

    @property
    def names(self) -> StageNames: ...

    def read_slots(self) -> SlotTable: ...

    def upstream_text(self) -> str | None: ...

    def upstream(self) -> UpstreamTarget | None: ...

    def address(self, name: str) -> str: ...

    def switch(self, move: Switch) -> float:
        """Make the move (SwitchRefused when it cannot); seconds to the first served answer."""
        ...

    def converge(self, release: str, port: int, health_path: str) -> list[str]:
        """A stage on several hosts: switch those not serving ``release`` to the slot that
        runs it (after a partial switch); the hosts it switched."""
        ...


class Stages(Protocol):
    """The stages on the Docker engine: their engines, locks, images and ports."""

    def engine(self, stage: str, warn: Warn | None = None) -> StageEngine:
        """The stage's engine at the port its stack file gives; with ``warn``, a broken stack
        file is said there and the port the proxy publishes is used instead."""
        ...

    def lock(
        self, stage: str, command: str, wait: float | None
    ) -> AbstractContextManager[object]: ...

    def image_present(self, digest: str) -> bool: ...

    def port_taken(self, stage: str) -> int | None:
        """The stage's port when a process other than its own proxy holds it, else None."""
        ...

    def build_variant(self, digest: str, lines: list[str], tag: str) -> tuple[str, int]:
        """An image of ``digest`` plus Dockerfile ``lines``, tagged: (its digest, size)."""
        ...

    def image_command(self, digest: str) -> tuple[list[str], list[str]]:
        """The image's configured command: (its ENTRYPOINT, its CMD), each ``[]`` when unset."""
        ...


class Stacks(Protocol):
    """The stages' Pulumi stacks."""

    def config(self, stage: str) -> dict[str, Any]:
        """The ``soakgate:`` keys of the stage's stack file (prefix dropped)."""
        ...

    def up(
        self,
        stage: str,
        release: Release,
        on_event: Callable[[Any], None] | None = None,
        warn: Warn = lambda message: None,
        *,
        rollout: Rollout | None = None,
    ) -> dict[str, Any]:
        """Set the stack to ``release`` and run ``up`` (in host groups with ``rollout``);
        DeployFailed (config put back) else."""
        ...


class World(NamedTuple):
    """The ports a deploy, promotion, rollback or drill needs, in one argument."""

    stages: Stages
    stacks: Stacks


def real_world(project: Project) -> World:
    """The real ports of a project: its stages on the local engine, its Pulumi stacks."""
    from soakgate.adapters.stage.stages import EngineStages, PulumiStacks

    return World(EngineStages(project), PulumiStacks(project.root))
