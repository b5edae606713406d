"""A live display of a Pulumi operation driven by Automation API engine events."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.status import Status


class PulumiProgress:
    """Shows which resource is being worked on, its step lines, and each one's outcome."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.status: Status | None = None
        self.started: dict[str, float] = {}

    def __enter__(self) -> PulumiProgress:
        self.status = self.console.status(self.title)
        self.status.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.status is not None:
            self.status.stop()

    def __call__(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            if meta.op.value != "same":
                self.started[meta.urn] = time.monotonic()
                self._update(f"{meta.op.value} {_name(meta.urn)}")
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if meta.urn in self.started:
                seconds = time.monotonic() - self.started.pop(meta.urn)
                self.console.print(
                    f"[green]✓[/] {meta.op.value} {_name(meta.urn)} ({seconds:.1f} s)"
                )
        elif event.res_op_failed_event is not None:
            self.console.print("[red]✗ a resource operation failed[/]")
        elif event.diagnostic_event is not None:
            message = event.diagnostic_event.message.rstrip()
            if message.startswith("Step ") or event.diagnostic_event.severity in (
                "error",
                "warning",
            ):
                self.console.print(f"  [dim]{message}[/]", markup=True, highlight=False)
                self._update(message[:80])

    def _update(self, text: str) -> None:
        if self.status is not None:
            self.status.update(f"{self.title}: {text}")


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]
